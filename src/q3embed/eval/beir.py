"""Read a retrieval dataset in BEIR layout: corpus.jsonl, queries.jsonl, qrels/{split}.tsv.

Every bad line is reported with its file and line number. Nothing is dropped silently: the
queries left out because the split does not judge them are counted in ``BeirStats``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import InputFileError
from ..data import corpus as data_corpus
from ..data.corpus import corpus_texts
from ..data.jsonl import iter_jsonl


@dataclass
class BeirStats:
    """Counts of what the loader saw and what it left out (printed by the CLI)."""

    documents: int = 0
    queries_in_file: int = 0
    queries_not_in_split: int = 0  # in queries.jsonl but not judged in qrels/{split}
    judged_queries: int = 0
    qrels: int = 0
    qrels_nonrelevant: int = 0  # relevance <= 0: kept, they count as judged non-relevant
    queries_without_relevant: int = 0  # judged, but no document with relevance > 0 (scored 0)
    duplicate_qrels: int = 0  # the same (query, doc) twice: the last line wins

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.documents} documents", f"{self.judged_queries} judged queries", f"{self.qrels} qrels"]
        if self.queries_not_in_split:
            parts.append(f"{self.queries_not_in_split} queries not in this split (skipped)")
        if self.qrels_nonrelevant:
            parts.append(f"{self.qrels_nonrelevant} qrels with relevance <= 0")
        if self.queries_without_relevant:
            parts.append(f"{self.queries_without_relevant} queries with no relevant document (score 0)")
        if self.duplicate_qrels:
            parts.append(f"{self.duplicate_qrels} duplicate qrels (last kept)")
        return ", ".join(parts)


def load_beir(data_dir: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus, queries, qrels) of one split.

    corpus: doc id -> ``(title + " " + text).strip()``; queries: query id -> text, only the
    queries judged in ``qrels/{split}.tsv``; qrels: query id -> {doc id: relevance}.
    """
    corpus, queries, qrels, _ = load_beir_with_stats(data_dir, split)
    return corpus, queries, qrels


def load_beir_with_stats(data_dir: str | Path, split: str = "test"):
    """Like ``load_beir``, plus a ``BeirStats`` of counts: (corpus, queries, qrels, stats)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise InputFileError(f"{root}: not a directory; expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/")
    stats = BeirStats()
    corpus = read_corpus(_need(root / "corpus.jsonl"))
    stats.documents = len(corpus)
    all_queries = read_queries(_need(root / "queries.jsonl"))
    stats.queries_in_file = len(all_queries)
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise InputFileError(f"{qrels_path}: no such qrels file; splits available: {', '.join(have) or 'none'}")
    qrels = read_qrels(qrels_path, all_queries, corpus, stats)
    queries = {qid: all_queries[qid] for qid in qrels}
    stats.judged_queries = len(queries)
    stats.queries_not_in_split = len(all_queries) - len(queries)
    stats.queries_without_relevant = sum(1 for j in qrels.values() if not any(r > 0 for r in j.values()))
    return corpus, queries, qrels, stats


def _need(path: Path) -> Path:
    if not path.is_file():
        raise InputFileError(f"{path}: missing; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/{{split}}.tsv")
    return path


def _jsonl_records(path: Path):
    for n, rec in iter_jsonl(path):
        if "_id" not in rec:
            raise InputFileError(f"{path}:{n}: expected an object with an '_id' field")
        yield n, str(rec["_id"]), rec


def read_corpus(path: Path) -> dict[str, str]:
    """{doc id: ``(title + " " + text).strip()``} of a corpus.jsonl, empty documents kept (BEIR counts them)."""
    return corpus_texts(data_corpus.read_corpus(path, min_chars=0))


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for n, qid, rec in _jsonl_records(path):
        if not isinstance(rec.get("text"), str):
            raise InputFileError(f"{path}:{n}: query {qid!r} needs a string 'text'")
        if qid in queries:
            raise InputFileError(f"{path}:{n}: duplicate query id {qid!r}")
        queries[qid] = rec["text"]
    return queries


def read_qrels(path: Path, queries: dict[str, str], corpus: dict[str, str], stats: BeirStats | None = None) -> dict[str, dict[str, int]]:
    """``query-id corpus-id score`` rows (tab or space separated; optional header; TREC's 4 columns too)."""
    stats = stats if stats is not None else BeirStats()
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t") if "\t" in line else line.split()
            fields = [x.strip() for x in fields]
            if len(fields) == 4:  # TREC: qid Q0 docid rel
                fields = [fields[0], fields[2], fields[3]]
            if len(fields) != 3:
                raise InputFileError(f"{path}:{n}: expected 'query-id<TAB>corpus-id<TAB>score', got {line.strip()!r:.80}")
            qid, doc_id, score = fields
            try:
                rel = int(float(score)) if float(score).is_integer() else None
            except ValueError:
                rel = None
            if rel is None:
                if n == 1 and not qrels:  # header row, e.g. "query-id corpus-id score"
                    continue
                raise InputFileError(f"{path}:{n}: relevance {score!r} is not an integer")
            if qid not in queries:
                raise InputFileError(f"{path}:{n}: query id {qid!r} is not in queries.jsonl")
            if doc_id not in corpus:
                raise InputFileError(f"{path}:{n}: corpus id {doc_id!r} is not in corpus.jsonl")
            judged = qrels.setdefault(qid, {})
            if doc_id in judged:
                stats.duplicate_qrels += 1
            else:
                stats.qrels += 1
                stats.qrels_nonrelevant += rel <= 0
            judged[doc_id] = rel
    if not qrels:
        raise InputFileError(f"{path}: no qrels rows")
    return qrels
