"""The embedded index's lexical side: BM25 over its chunks in a tantivy index (``lexical/``).

Why tantivy (figures in docs/search.md, from ``python -m bench.lexical_engines``): it is an on-disk
engine with segments, deletes and atomic commits, so adding 1% to a 100K-document index costs a
commit of the new rows (about 0.4 s) where bm25s re-indexes everything (about 40 s); it builds
faster and takes less disk, and a query costs the same.

How it stays one commit with the vectors (``manifest.json`` is still the only commit point):

- Every tantivy document is one index row, keyed by its segment name and row number.
- A write adds the new segment's rows to tantivy and commits tantivy *before* the manifest. A
  kill before the tantivy commit leaves nothing; a kill after it leaves rows of a segment no
  manifest names. Searches keep only rows of named segments that the manifest counts live, so
  they never see either; the next writer, which reuses that segment name, deletes them first.
- A deleted or replaced document stays in tantivy until ``compact`` (the manifest's deletion
  marks hide it): deleting it in tantivy before the manifest commit could lose it from the
  lexical side of an older, still-committed state. Like Lucene's deleted documents, such rows
  still count in BM25's document frequencies until ``compact``.
- ``check(manifest)`` (``index info --verify``) counts each named segment's rows in tantivy.

Terms come from ``analysis.analyze`` (the index's analyzer), joined by spaces and split again by
tantivy's whitespace tokenizer, so tantivy never re-analyzes. Scoring: tantivy's BM25
(k1 = 1.2, b = 0.75, Lucene's IDF), the same formula the other stores compute.
"""

from __future__ import annotations

from pathlib import Path

from .analysis import analyze
from .errors import IndexCorruptError

LEXICAL = "lexical"
_HEAP = 64_000_000  # tantivy's indexing buffer for one thread


def segment_number(name: str) -> int:
    """6 of ``seg-000006``: segment names are the index's own, ``seg-`` and a counter."""
    return int(name.rsplit("-", 1)[1])


class LexicalIndex:
    def __init__(self, root: Path):
        import tantivy

        self.path = root / LEXICAL
        self.path.mkdir(parents=True, exist_ok=True)
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("body", tokenizer_name="whitespace")
        builder.add_text_field("seg", tokenizer_name="raw")  # raw: an exact term to delete a segment's rows by
        # (segment number << 32) | row, a fast field: read per hit without fetching stored documents
        # (tantivy-py 0.27 panics on u64 fast or indexed fields, so it is an i64)
        builder.add_integer_field("key", fast=True)
        self._schema = builder.build()
        self._tantivy = tantivy
        try:
            self._index = tantivy.Index(self._schema, path=str(self.path), reuse=True)
        except (OSError, ValueError) as e:
            raise IndexCorruptError(f"{root}: the lexical index in {LEXICAL}/ cannot be opened ({e})") from None

    def write(self, segment: str | None, texts: list[str], analyzer: str, drop: list[str] = ()) -> None:
        """Add ``texts`` as rows 0.. of ``segment`` and delete the rows of the segments in ``drop``, in
        one tantivy commit. Rows a killed writer left under ``segment`` are deleted first."""
        writer = self._index.writer(heap_size=_HEAP, num_threads=1)
        for name in ([segment] if segment else []) + list(drop):
            writer.delete_documents_by_term("seg", name)
        base = segment_number(segment) << 32 if segment else 0
        for row, text in enumerate(texts):
            writer.add_document(self._tantivy.Document(body=" ".join(analyze(text, analyzer)), seg=segment,
                                                       key=base | row))
        writer.commit()
        writer.wait_merging_threads()  # ends the writer: its lock is free and no merge runs after we return
        self._index.reload()

    def reload(self) -> None:
        self._index.reload()

    def search(self, text: str, analyzer: str, depth: int) -> list[tuple[str, int, float]]:
        """(segment, row, BM25 score) of the ``depth`` best rows, best first (rows of any segment)."""
        terms = list(dict.fromkeys(analyze(text, analyzer)))  # each query term once, in every store
        if not terms:
            return []
        tv = self._tantivy
        query = tv.Query.boolean_query([(tv.Occur.Should, tv.Query.term_query(self._schema, "body", t))
                                        for t in terms])
        searcher = self._index.searcher()
        hits = searcher.search(query, depth, count=False).hits
        keys = searcher.fast_field_values("key", [address for _, address in hits]) if hits else []
        return [(f"seg-{key >> 32:06d}", key & 0xFFFFFFFF, float(score)) for (score, _), key in zip(hits, keys)]

    def rows_of(self, segment: str) -> int:
        tv = self._tantivy
        return self._index.searcher().search(tv.Query.term_query(self._schema, "seg", segment), 1, count=True).count

    def check(self, root: Path, segments) -> None:
        """Raise IndexCorruptError unless every named segment has all its rows here."""
        self.reload()
        for entry in segments:
            held = self.rows_of(entry.name)
            if held != entry.rows:
                raise IndexCorruptError(f"{root}: the lexical index holds {held} rows of segment {entry.name}; "
                                        f"the commit recorded {entry.rows}")


def lexical_top_rows(index, text: str, top_k: int, where: dict | None = None) -> list:
    """BM25 hits of one query in an embedded ``Index``: each live document once, by its best chunk.

    Tantivy may hold rows the last commit does not count (deleted, replaced, or written by a killed
    or running writer); they are skipped, and the search looks deeper until ``top_k`` documents
    are found or tantivy has nothing more.
    """
    from .ingest import matches

    first = {seg.entry.name: int(f) for seg, f in zip(index.segments, index._offsets[:-1])}
    hidden = len(index._live) - index.num_chunks  # committed rows that no longer count
    several_chunks = len(index) < index.num_chunks
    depth = top_k * (4 if several_chunks else 1) + hidden + 16
    lexical = index.lexical()
    while True:
        found = lexical.search(text, index.spec.analyzer, depth)
        rows = [(score, first[seg] + row) for seg, row, score in found if seg in first]
        rows = [(s, r) for s, r in rows if r < len(index._live) and index._live[r]]
        rows.sort(key=lambda x: (-x[0], index._row_doc[x[1]]))  # equal scores by document id, as PostgreSQL orders
        hits, seen = [], set()
        for score, r in rows:
            doc = index._row_doc[r]
            if doc in seen or (where and not matches(index.record(r).get("meta"), where)):
                continue
            seen.add(doc)
            hits.append(index._hit(r, score))
            if len(hits) == top_k:
                return hits
        if len(found) < depth:
            return hits
        depth *= 4
