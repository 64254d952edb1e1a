"""``Index``: an embedded, crash-safe vector + lexical index on disk: dense, BM25 and hybrid search.

>>> idx = Index.build("scifact.idx", "corpus.jsonl", Embedder.load("minilm"))
>>> idx.search("what do mitochondria do?", top_k=5)           # exact inner product
>>> idx.search(query_vectors, method="hnsw")                   # (Q, dim) vectors work too
>>> idx.search("mitochondria ATP", mode="hybrid")              # BM25 + dense, fused with RRF
>>> idx.add("more.jsonl"); idx.delete(["doc-7"]); len(idx)     # each call is one commit
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..data.corpus import Document, read_corpus
from .ann import AnnConfig, load_or_build, search_ann
from .binary import BinaryConfig, HammingSearcher, binary_top_rows, pack_signs
from .build_state import BUILD_STATE, check_same_corpus, corpus_identity, record_corpus
from .chunking import ChunkingConfig
from .errors import IndexMismatchError, StoreExistsError, UnknownIdError
from .exact import exact_top_rows
from .funnel import FunnelConfig, funnel_search, low_dim_matrix
from .fusion import FusionConfig
from .hits import Hit, best_per_document
from .ingest import (COMMIT_SECONDS, add_documents, check_embedder, check_on_duplicate, check_records, check_resumable,
                     drop_duplicates, matches, whole)
from .lexical import LEXICAL, LexicalIndex, lexical_top_rows
from .modes import run_search
from .spec import new_spec
from .storage import check_storage_dtype, dequantize, quantize
from .store import (LOCK, Manifest, Segment, check_files, commit_manifest, load_segment, manifest_path, read_manifest,
                    manifest_stamp, remove_debris, write_segment, writer_lock)

SEARCH_METHODS = ("exact", "hnsw", "ivf", "funnel", "binary")  # how the dense stage searches



class Index:
    search_methods = SEARCH_METHODS

    def __init__(self, root: Path, manifest: Manifest, embedder=None, stamp=None):
        self.root = root
        self._reload_lock = threading.RLock()  # a server thread may refresh while another searches
        self._stamp = stamp  # taken before the manifest was read: a commit in between means one more reload
        self._lexical: LexicalIndex | None = None
        self._load(manifest)
        self.embedder = embedder

    # ---- opening and building -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, embedder=None, verify: bool = False) -> "Index":
        """Open the last commit. ``verify`` also checks every file's sha256 (sizes are always checked)."""
        root = Path(path).expanduser()
        stamp = manifest_stamp(root)
        manifest = read_manifest(root)
        check_files(root, manifest, verify=verify)
        index = cls(root, manifest, stamp=stamp)
        if verify:
            index.lexical().check(root, manifest.segments)
        if embedder is not None:
            index.attach(embedder)
        return index

    @classmethod
    def create(cls, path: str | Path, embedder, dim: int | None = None, dtype: str = "float32",
               instruction: str | None = None, chunking: ChunkingConfig | None = None,
               overwrite: bool = False, building: bool = False, binary_dim: int = 0) -> "Index":
        """An empty, committed index (generation 0) that records how it embeds.

        The writer lock is taken before anything is checked or removed, so ``overwrite`` cannot
        pull an index from under a concurrent ``add`` (that writer gets ``IndexBusyError``).
        """
        root = Path(path).expanduser()
        check_storage_dtype(dtype)
        if root.exists() and not root.is_dir():
            raise StoreExistsError(f"{root} is a file; an index is a directory (choose a new or empty directory)")
        if root.exists() and any(root.iterdir()) and not _looks_like_index(root):
            raise StoreExistsError(f"{root} is a non-empty directory that is not a q3embed index; "
                                  "choose a new or empty directory")
        spec = new_spec(embedder, dim, dtype, instruction, chunking, binary_dim)
        with writer_lock(root):
            if any(p.name != LOCK for p in root.iterdir()):
                if not overwrite:
                    what = "an index" if manifest_path(root).exists() else "an unfinished index build"
                    raise StoreExistsError(f"{root} already holds {what}; pass overwrite=True (--overwrite) to replace "
                                          "it, resume=True (--resume) to finish an interrupted build, or add documents "
                                          "with `q3embed index add`")
                _remove_tree(root)
            commit_manifest(root, Manifest(spec, building=building))
            return cls(root, read_manifest(root), embedder, stamp=manifest_stamp(root))

    @classmethod
    def build(cls, path: str | Path, corpus, embedder, *, dim: int | None = None, dtype: str = "float32",
              instruction: str | None = None, chunk_tokens: int = 0, chunk_overlap: int = 0, batch_size: int = 32,
              commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS, overwrite: bool = False,
              resume: bool = False, show_progress: bool = False, binary_dim: int = 0) -> "Index":
        """Embed ``corpus`` (path or iterable, see ``read_corpus``) into a new index at ``path``.

        Commits every ``commit_every`` chunks or ``commit_seconds`` seconds, whichever comes
        first, always at a document boundary. Until the last commit the manifest says the build
        is unfinished (``Index.interrupted``). ``resume=True`` continues an index that a killed
        build left behind (same model and settings): stored documents are kept, documents stored
        only in part are redone, the rest are added.
        """
        docs = read_corpus(corpus)  # bad input fails before anything is written
        identity = corpus_identity(corpus, docs)
        chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
        root = Path(path).expanduser()
        with writer_lock(root):  # held from the first check to the last commit
            if resume and manifest_path(root).exists():
                index = cls.open(root, embedder)
                index._check_same_settings(dim, dtype, chunking, binary_dim)
                check_same_corpus(root, identity)
                index.set_building(True)
                on_duplicate = "skip"
            else:
                index = cls.create(root, embedder, dim=dim, dtype=dtype, instruction=instruction, chunking=chunking,
                                   binary_dim=binary_dim,
                                   overwrite=overwrite, building=True)
                record_corpus(root, identity)
                on_duplicate = "error"
            index.add(docs, on_duplicate=on_duplicate, batch_size=batch_size, commit_every=commit_every,
                      commit_seconds=commit_seconds, show_progress=show_progress)
            index.set_building(False)
        return index

    def set_building(self, building: bool) -> None:
        """Commit the build mark (see ``interrupted``); a no-op when it is already so."""
        with writer_lock(self.root):
            self.reload()
            if self.manifest.building != building:
                m = self.manifest
                commit_manifest(self.root, Manifest(self.spec, m.generation + 1, m.next_segment,
                                                    [_copy_entry(e) for e in m.segments], building=building))
                self.reload()

    def writer(self):
        """The index's writer lock (flock on ``.lock``), held across several writes; re-entrant here."""
        return writer_lock(self.root)

    @property
    def interrupted(self) -> bool:
        """True when the last commit belongs to a build that has not finished (it was killed, or is running)."""
        return self.manifest.building

    def attach(self, embedder) -> "Index":
        """Use ``embedder`` for text queries and adds, after checking it is the model the index was built with."""
        self.check_embedder(embedder)
        self.embedder = embedder
        return self

    def check_embedder(self, embedder) -> None:
        check_embedder(self.spec, embedder, str(self.root))

    def _check_same_settings(self, dim, dtype, chunking, binary_dim=None) -> None:
        check_resumable(self.spec, str(self.root), dim, dtype, chunking, binary_dim)

    # ---- state ------------------------------------------------------------------------------

    def _load(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.spec = manifest.spec
        # Segment files never change once committed: reuse what is loaded, read only new segments.
        loaded = {seg.entry.name: seg for seg in getattr(self, "segments", [])}
        self.segments = [Segment(e, loaded[e.name].vectors, loaded[e.name].scales, loaded[e.name].rows)
                         if e.name in loaded else load_segment(self.root, e, manifest.spec.dim)
                         for e in manifest.segments]
        sizes = [s.entry.rows for s in self.segments]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # (S+1,)
        self._live = np.ones(int(self._offsets[-1]), dtype=bool)  # (N,)
        self._row_doc: list[str] = []
        for seg, first in zip(self.segments, self._offsets[:-1]):
            self._live[first + np.asarray(seg.entry.deleted, dtype=np.int64)] = False
            self._row_doc.extend(r["id"] for r in seg.rows)
        self._doc_rows: dict[str, list[int]] = {}
        for r in np.flatnonzero(self._live).tolist():
            self._doc_rows.setdefault(self._row_doc[r], []).append(r)
        self._dense_cache: dict = {}
        # Hamming searchers per segment name: segments never change, so they outlive reloads.
        names = {e.name for e in manifest.segments}
        self._hamming = {k: v for k, v in getattr(self, "_hamming", {}).items() if k in names}

    def reload(self) -> "Index":
        """Re-read the last commit (e.g. after another process added documents)."""
        with self._reload_lock:
            stamp = manifest_stamp(self.root)
            manifest = read_manifest(self.root)
            check_files(self.root, manifest)
            self._load(manifest)
            self._stamp = stamp
            if self._lexical is not None:
                self._lexical.reload()  # committed before the manifest: at least as new as it
        return self

    def refresh(self) -> bool:
        """Re-open if another process committed since this one last read; True when it did.

        One ``stat`` of the manifest, done before every search: a commit is visible to the first
        search that starts after its manifest rename (the staleness bound is zero, not a poll period).
        """
        if manifest_stamp(self.root) == self._stamp:
            return False
        self.reload()
        return True

    @property
    def generation(self) -> int:
        return self.manifest.generation

    def __len__(self) -> int:
        """Number of stored documents (not chunks)."""
        return len(self._doc_rows)

    def count(self) -> int:
        """Number of stored documents in the last commit (re-opens if another process committed)."""
        self.refresh()
        return len(self._doc_rows)

    @property
    def location(self) -> str:
        return str(self.root)

    def close(self) -> None:
        """Nothing to release (files are memory-mapped per segment); here for the ``VectorStore`` contract."""

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._doc_rows

    @property
    def num_chunks(self) -> int:
        return int(self._live.sum())

    def ids(self) -> list[str]:
        return list(self._doc_rows)

    def record(self, r: int) -> dict:
        """The stored record (id, chunk, start, end, text, meta) of global row ``r`` (see ``vectors()``)."""
        s = int(np.searchsorted(self._offsets, r, side="right")) - 1
        return self.segments[s].rows[r - int(self._offsets[s])]

    def chunks(self, doc_id: str) -> list[dict]:
        """The stored chunk records of one document."""
        return [self.record(r) for r in self._doc_rows.get(doc_id, [])]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(live rows (n,) int64, float32 vectors (n, dim)) of the current commit, cached per generation."""
        key = ("dense", self.generation)
        if key not in self._dense_cache:
            parts = []
            for seg, first in zip(self.segments, self._offsets[:-1]):
                live = self._live[first: first + seg.entry.rows]
                parts.append(dequantize(seg.vectors[live], None if seg.scales is None else seg.scales[live]))
            dense = np.concatenate(parts) if parts else np.zeros((0, self.spec.dim), np.float32)
            self._dense_cache[key] = (np.flatnonzero(self._live), dense)
        return self._dense_cache[key]

    def size_bytes(self) -> int:
        """Bytes of committed files (vectors, scales, rows with text)."""
        return sum(meta["bytes"] for seg in self.manifest.segments for meta in seg.files.values())

    # ---- writing ----------------------------------------------------------------------------

    def add(self, corpus, embedder=None, on_duplicate: str = "error", batch_size: int = 32,
            commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS,
            show_progress: bool = False) -> int:
        """Embed and add documents; returns how many were written (repaired documents included).

        An id already in the index is an error (``on_duplicate="error"``, nothing is written),
        replaces the stored document (``"replace"``) or is left alone (``"skip"``), except that a
        document stored only in part (by a version that could split one across commits) is redone.
        Commits come every ``commit_every`` chunks or ``commit_seconds`` seconds, at document
        boundaries: a document and the deletion of its old version land in the same commit.
        """
        check_on_duplicate(on_duplicate)
        if embedder is not None and embedder is not self.embedder:
            self.attach(embedder)
        spec = self.spec
        with writer_lock(self.root):
            self.reload()  # another writer may have committed since we opened
            if self.spec != spec:
                raise IndexMismatchError(f"{self.root} was replaced while this writer had it open (now "
                                         f"{self.spec.describe()}); nothing was added")
            remove_debris(self.root, self.manifest)
            return add_documents(self, corpus, self.embedder, on_duplicate, batch_size, commit_every, commit_seconds,
                                 show_progress)

    def add_records(self, records: Sequence[dict], vectors: np.ndarray, on_duplicate: str = "error") -> int:
        """Write chunk records (id, chunk, n_chunks, start, end, text, meta) and their (N, dim) vectors
        in one commit; returns documents written. Records must hold whole documents."""
        check_on_duplicate(on_duplicate)
        records = [dict(r) for r in records]
        vectors = check_records(records, vectors, self.spec, str(self.root))
        with writer_lock(self.root):
            self.reload()
            remove_debris(self.root, self.manifest)
            ids = list(dict.fromkeys(r["id"] for r in records))
            stored = {i: self._stored_chunk_numbers(i) for i in ids if i in self._doc_rows}
            records, vectors = drop_duplicates(records, vectors, stored, on_duplicate, str(self.root))
            written = {r["id"] for r in records}
            replaced = [i for i in stored if i in written]
            if records:
                self._commit_segment(vectors, records, replaced)
        return len(written)

    def add_vectors(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str] | None = None,
                    on_duplicate: str = "error") -> int:
        """Add precomputed document vectors (N, dim), one row per document, in one commit.

        The vectors must come from the model the index records (nothing here can check that);
        they are L2-normalised at ``dim`` like ``Embedder.encode`` output.
        """
        ids = [str(i) for i in ids]
        texts = list(texts) if texts is not None else [""] * len(ids)
        read_corpus([Document(i, t) for i, t in zip(ids, texts)]) if ids else None  # unique ids
        records = [{"id": i, "chunk": 0, "n_chunks": 1, "start": 0, "end": len(t), "text": t} for i, t in zip(ids, texts)]
        return self.add_records(records, vectors, on_duplicate)

    def stored_chunks(self, ids: Iterable[str]) -> dict[str, list[int]]:
        """Chunk numbers stored for each of ``ids`` that the index holds."""
        self.refresh()
        return {i: self._stored_chunk_numbers(i) for i in ids if i in self._doc_rows}

    def whole_ids(self) -> set[str]:
        """Ids of the documents stored with all their chunks (rows record ``n_chunks``; older rows: no gaps)."""
        self.refresh()
        out = set()
        for doc, rows in self._doc_rows.items():
            recs = [self.record(r) for r in rows]
            numbers = sorted(r.get("chunk", 0) for r in recs)
            if whole(numbers, recs[0].get("n_chunks", numbers[-1] + 1)):
                out.add(doc)
        return out

    def _stored_chunk_numbers(self, doc_id: str) -> list[int]:
        return sorted(self.record(r).get("chunk", 0) for r in self._doc_rows[doc_id])

    def partial_documents(self) -> list[str]:
        """Ids of documents whose stored chunks are not all of them (gaps, or fewer than recorded).

        Rows written since whole-document commits record ``n_chunks``; for older rows only gaps
        in the chunk numbers can be seen here. ``add(corpus, on_duplicate="skip")`` (``--resume``,
        ``--skip-existing``) compares with the corpus and redoes them either way.
        """
        complete = self.whole_ids()
        return [doc for doc in self._doc_rows if doc not in complete]

    def _commit_segment(self, vectors: np.ndarray, rows: list[dict], replaced: Sequence[str]) -> None:
        m = self.manifest
        segments = [_copy_entry(e) for e in m.segments]
        self._mark_deleted(segments, replaced)
        next_segment = m.next_segment
        if rows:
            stored, scales = quantize(vectors, self.spec.dtype)
            bits = pack_signs(vectors, self.spec.binary_dim) if self.spec.binary_dim else None
            name = f"seg-{next_segment:06d}"
            segments.append(write_segment(self.root, name, stored, scales, rows, bits))
            # the lexical rows are committed before the manifest that makes both visible (see lexical.py)
            self.lexical().write(name, [r.get("text", "") for r in rows], self.spec.analyzer)
            next_segment += 1
        commit_manifest(self.root, Manifest(self.spec, m.generation + 1, next_segment, segments, building=m.building))
        self.reload()

    def _mark_deleted(self, segments, doc_ids: Iterable[str]) -> None:
        for doc in doc_ids:
            for r in self._doc_rows.get(doc, []):
                s = int(np.searchsorted(self._offsets, r, side="right")) - 1
                segments[s].deleted.append(r - int(self._offsets[s]))

    def delete(self, ids: Iterable[str], missing: str = "error") -> int:
        """Delete documents by id in one commit; returns how many were deleted.

        Unknown ids are an error (nothing is deleted) unless ``missing="ignore"``.
        """
        ids = list(dict.fromkeys(str(i) for i in ([ids] if isinstance(ids, str) else ids)))
        with writer_lock(self.root):
            self.reload()
            unknown = [i for i in ids if i not in self._doc_rows]
            if unknown and missing != "ignore":
                raise UnknownIdError.for_ids(str(self.root), unknown)
            present = [i for i in ids if i in self._doc_rows]
            if present:
                self._commit_segment(np.zeros((0, self.spec.dim), np.float32), [], present)
        return len(present)

    def compact(self) -> None:
        """Rewrite the live rows into one segment, dropping deleted rows and stale files."""
        with writer_lock(self.root):
            self.reload()
            stored, scales, rows = [], [], []
            for seg, first in zip(self.segments, self._offsets[:-1]):
                live = self._live[first: first + seg.entry.rows]
                stored.append(np.asarray(seg.vectors[live]))
                scales.append(None if seg.scales is None else seg.scales[live])
                rows.extend(r for r, keep in zip(seg.rows, live) if keep)
            m = self.manifest
            entries = []
            if rows:
                sc = None if scales[0] is None else np.concatenate(scales)
                vectors = np.concatenate(stored)
                bits = pack_signs(dequantize(vectors, sc), self.spec.binary_dim) if self.spec.binary_dim else None
                name = f"seg-{m.next_segment:06d}"
                entries.append(write_segment(self.root, name, vectors, sc, rows, bits))
                self.lexical().write(name, [r.get("text", "") for r in rows], self.spec.analyzer)
            commit_manifest(self.root, Manifest(self.spec, m.generation + 1, m.next_segment + 1, entries,
                                                building=m.building))
            # the old segments' lexical rows go only once no commit names them
            self.lexical().write(None, [], self.spec.analyzer, drop=[e.name for e in m.segments])
            self.reload()
            remove_debris(self.root, self.manifest)

    # ---- searching --------------------------------------------------------------------------

    def encode_queries(self, queries: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if self.embedder is None:
            raise ValueError(f"text queries need an embedder: Index.open({str(self.root)!r}, embedder) "
                             f"with the model the index was built with ({self.spec.model!r}), or pass vectors")
        instruction = instruction if instruction is not None else self.spec.instruction
        return self.embedder.encode_queries(list(queries), instruction=instruction, dim=self.spec.dim)

    def search(self, queries, top_k: int = 10, mode: str = "dense", method: str = "exact",
               instruction: str | None = None, where: dict | None = None,
               tuning: AnnConfig | FunnelConfig | BinaryConfig | None = None, texts=None,
               fusion: FusionConfig | None = None):
        """Best ``top_k`` documents per query: a list of Hits for one query (str or (dim,) vector),
        a list of lists for several (list of str or (Q, dim) array).

        mode: ``dense`` (vectors), ``lexical`` (BM25 over the chunk text) or ``hybrid`` (both, fused:
        ``fusion=FusionConfig(...)``, RRF k=60 by default); lexical and hybrid need the query text
        (text queries, or ``texts=`` beside vectors).

        method (how the dense stage searches): ``exact`` (inner product over every row), ``hnsw`` /
        ``ivf`` (faiss, approximate; ``tuning=AnnConfig(...)``), ``funnel`` (MRL: low-dim pass,
        full-dim rescore; ``tuning=FunnelConfig(...)``), ``binary`` (Hamming first pass on the sign
        bits, exact rescoring of an oversampled candidate list; needs ``binary_dim`` at build;
        ``tuning=BinaryConfig(...)``). ``where`` keeps documents whose metadata holds every key/value
        given (dense: exact method only; the filter is applied before ranking).
        """
        return run_search(self, queries, top_k, mode, method, instruction, where, tuning, texts, fusion)

    def _dense_hits(self, qv: np.ndarray, top_k: int, method: str, where, tuning) -> list[list[Hit]]:
        if where and method != "exact":
            raise ValueError(f"a metadata filter (where=) needs method 'exact' in the embedded index, got {method!r}")
        ann = tuning if isinstance(tuning, AnnConfig) else None
        funnel = tuning if isinstance(tuning, (FunnelConfig, BinaryConfig)) else None  # a rescoring first pass
        if method == "binary" and not self.spec.binary_dim:
            raise ValueError(f"search method 'binary' needs sign bits, and {self.root} keeps none; build it with "
                             "binary_dim= (--binary-dim), or use method 'exact'")
        # The server searches from a thread pool; a refresh swaps the loaded commit, so a search
        # and a refresh never overlap (searches run one at a time per Index).
        with self._reload_lock:
            self.refresh()
            results = [[] for _ in range(len(qv))]
            if self.num_chunks and len(qv):
                results = self._search_vectors(qv, top_k, method, ann, funnel, where)
        return results

    def _lexical_hits(self, texts: list[str], top_k: int, where) -> list[list[Hit]]:
        with self._reload_lock:
            self.refresh()
            return [lexical_top_rows(self, t, top_k, where) for t in texts]

    def lexical(self) -> LexicalIndex:
        """The tantivy index beside the vectors (``lexical/``), opened once."""
        if self._lexical is None:
            self._lexical = LexicalIndex(self.root)
        return self._lexical

    def _search_vectors(self, qv: np.ndarray, top_k: int, method: str, ann, funnel, where=None) -> list[list[Hit]]:
        live = self._live
        if where:
            live = live & np.array([matches(self.record(r).get("meta"), where) if ok else False
                                    for r, ok in enumerate(live.tolist())], dtype=bool)
        n_live = int(live.sum())
        if not n_live:
            return [[] for _ in range(len(qv))]
        several_chunks = len(self._doc_rows) < self.num_chunks
        m = min(n_live, top_k * 4 if several_chunks else top_k)
        while True:
            scores, rows = self._top_rows(qv, m, method, ann, funnel, live)  # (Q, m') each, best first
            ranked = [best_per_document(s[r >= 0], r[r >= 0], self._row_doc, top_k) for s, r in zip(scores, rows)]
            if m >= n_live or all(len(x) >= min(top_k, len(self)) for x in ranked):
                break
            m = min(n_live, m * 4)  # many chunks of the same documents: look deeper
        return [[self._hit(r, s) for r, s in q] for q in ranked]

    def _top_rows(self, qv, m, method, ann, funnel, live) -> tuple[np.ndarray, np.ndarray]:
        if method == "binary":
            config = funnel if isinstance(funnel, BinaryConfig) else BinaryConfig()
            return binary_top_rows(qv, self._binary_parts(live), m, config, self.spec.binary_dim)
        if method == "exact":
            blocks = ((int(first), seg.vectors, seg.scales, live[first: first + seg.entry.rows])
                      for seg, first in zip(self.segments, self._offsets[:-1]))
            return exact_top_rows(qv, blocks, m)
        live_rows, dense = self.vectors()
        if method == "funnel":
            funnel = funnel or FunnelConfig()
            d_low = funnel.first_pass_dim(self.spec.dim)
            key = ("low", self.generation, d_low)
            if key not in self._dense_cache:
                self._dense_cache[key] = low_dim_matrix(dense, d_low)
            out = [funnel_search(qv[a: a + 64], self._dense_cache[key], dense, m, funnel.candidates)
                   for a in range(0, len(qv), 64)]  # 64 queries at a time bounds the (Q, c, d) gather
            scores, local = np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
        else:
            ann = ann or AnnConfig(kind=method)
            if ann.kind != method:
                raise ValueError(f"search method {method!r} was given an AnnConfig of kind {ann.kind!r}")
            key = ("ann", self.generation, ann)
            if key not in self._dense_cache:
                self._dense_cache[key] = load_or_build(self.root / "ann", self.generation, lambda: dense, ann)
            scores, local = search_ann(self._dense_cache[key], qv, m, ann)
        rows = np.where(local >= 0, live_rows[np.maximum(local, 0)], -1)
        return scores, rows

    def _binary_parts(self, live):
        """(first row, Hamming searcher, stored vectors, scales, dead rows) per segment; a searcher is built
        once per segment (its bits read into memory: the first pass's whole footprint)."""
        for seg, first in zip(self.segments, self._offsets[:-1]):
            if seg.entry.name not in self._hamming:
                self._hamming[seg.entry.name] = HammingSearcher(np.load(self.root / seg.entry.files["bits"]["path"]))
            yield (int(first), self._hamming[seg.entry.name], seg.vectors, seg.scales,
                   ~live[first: first + seg.entry.rows])

    def _hit(self, r: int, score: float) -> Hit:
        rec = self.record(r)
        return Hit(id=rec["id"], score=float(score), text=rec.get("text", ""), chunk=rec.get("chunk", 0),
                   start=rec.get("start", 0), end=rec.get("end", 0), meta=rec.get("meta", {}))

    def __repr__(self) -> str:
        return (f"Index({str(self.root)!r}, {len(self)} documents, {self.num_chunks} chunks, {self.spec.describe()}, "
                f"generation {self.generation})")



def _copy_entry(e):
    from .store import SegmentEntry

    return SegmentEntry(e.name, e.rows, e.files, list(e.deleted))


_INDEX_NAMES = {"manifest.json", ".manifest.json.tmp", "segments", "ann", LEXICAL, LOCK, BUILD_STATE,
                f".{BUILD_STATE}.tmp"}


def _looks_like_index(root: Path) -> bool:
    """Only q3embed's own names inside: safe to replace (an interrupted first build included)."""
    return all(p.name in _INDEX_NAMES for p in root.iterdir())


def _remove_tree(root: Path) -> None:
    """Remove an old index but its lock file: un-commit first, so a kill midway leaves no openable half-index."""
    manifest_path(root).unlink(missing_ok=True)
    for p in root.iterdir():
        if p.name == LOCK:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
