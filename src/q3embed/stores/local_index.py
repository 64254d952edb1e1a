"""``Index``: an embedded, crash-safe vector index on disk with exact, approximate and funnel search.

>>> idx = Index.build("scifact.idx", "corpus.jsonl", Embedder.load("minilm"))
>>> idx.search("what do mitochondria do?", top_k=5)           # exact inner product
>>> idx.search(query_vectors, mode="hnsw")                     # (Q, dim) vectors work too
>>> idx.add("more.jsonl"); idx.delete(["doc-7"]); len(idx)     # each call is one commit
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .ann import AnnConfig, load_or_build, search_ann
from .chunking import ChunkingConfig, chunk_text
from .corpus import Document, read_corpus
from .errors import DuplicateIdError, IndexMismatchError
from .exact import exact_top_rows
from .funnel import FunnelConfig, funnel_search, low_dim_matrix
from .hits import Hit, best_per_document
from .spec import PROBE_MIN_COSINE, IndexSpec, embed_probe, model_reference, probe_agreement, query_matrix
from .storage import check_storage_dtype, dequantize, quantize
from .store import (LOCK, Manifest, Segment, check_files, commit_manifest, load_segment, manifest_path, read_manifest,
                    manifest_stamp, remove_debris, write_segment, writer_lock)

SEARCH_MODES = ("exact", "hnsw", "ivf", "funnel")
ON_DUPLICATE = ("error", "replace", "skip")
_ENCODE_STEP = 256  # chunks per encode call, so progress moves and memory stays flat
# A build or add commits at least this often (at the next document boundary after it passes), so a
# kill loses at most about a minute of embedding however slow the model is.
COMMIT_SECONDS = 60.0


class Index:
    def __init__(self, root: Path, manifest: Manifest, embedder=None, stamp=None):
        self.root = root
        self._reload_lock = threading.RLock()  # a server thread may refresh while another searches
        self._stamp = stamp  # taken before the manifest was read: a commit in between means one more reload
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
        if embedder is not None:
            index.attach(embedder)
        return index

    @classmethod
    def create(cls, path: str | Path, embedder, dim: int | None = None, dtype: str = "float32",
               instruction: str | None = None, chunking: ChunkingConfig | None = None,
               overwrite: bool = False, building: bool = False) -> "Index":
        """An empty, committed index (generation 0) that records how it embeds.

        The writer lock is taken before anything is checked or removed, so ``overwrite`` cannot
        pull an index from under a concurrent ``add`` (that writer gets ``IndexBusyError``).
        """
        root = Path(path).expanduser()
        check_storage_dtype(dtype)
        dim = embedder.check_dim(dim) if hasattr(embedder, "check_dim") else int(dim or embedder.width)
        if root.exists() and not root.is_dir():
            raise FileExistsError(f"{root} is a file; an index is a directory (choose a new or empty directory)")
        if root.exists() and any(root.iterdir()) and not _looks_like_index(root):
            raise FileExistsError(f"{root} is a non-empty directory that is not a q3embed index; "
                                  "choose a new or empty directory")
        spec = IndexSpec(model=model_reference(embedder), width=int(embedder.width), dim=dim, dtype=dtype,
                         instruction=instruction, chunking=chunking or ChunkingConfig(),
                         probe=tuple(map(tuple, embed_probe(embedder, dim).tolist())))
        with writer_lock(root):
            if any(p.name != LOCK for p in root.iterdir()):
                if not overwrite:
                    what = "an index" if manifest_path(root).exists() else "an unfinished index build"
                    raise FileExistsError(f"{root} already holds {what}; pass overwrite=True (--overwrite) to replace "
                                          "it, resume=True (--resume) to finish an interrupted build, or add documents "
                                          "with `q3embed index add`")
                _remove_tree(root)
            commit_manifest(root, Manifest(spec, building=building))
            return cls(root, read_manifest(root), embedder, stamp=manifest_stamp(root))

    @classmethod
    def build(cls, path: str | Path, corpus, embedder, *, dim: int | None = None, dtype: str = "float32",
              instruction: str | None = None, chunk_tokens: int = 0, chunk_overlap: int = 0, batch_size: int = 32,
              commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS, overwrite: bool = False,
              resume: bool = False, show_progress: bool = False) -> "Index":
        """Embed ``corpus`` (path or iterable, see ``read_corpus``) into a new index at ``path``.

        Commits every ``commit_every`` chunks or ``commit_seconds`` seconds, whichever comes
        first, always at a document boundary. Until the last commit the manifest says the build
        is unfinished (``Index.interrupted``). ``resume=True`` continues an index that a killed
        build left behind (same model and settings): stored documents are kept, documents stored
        only in part are redone, the rest are added.
        """
        docs = read_corpus(corpus)  # bad input fails before anything is written
        chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
        root = Path(path).expanduser()
        with writer_lock(root):  # held from the first check to the last commit
            if resume and manifest_path(root).exists():
                index = cls.open(root, embedder)
                index._check_same_settings(dim, dtype, chunking)
                index._set_building(True)
                on_duplicate = "skip"
            else:
                index = cls.create(root, embedder, dim=dim, dtype=dtype, instruction=instruction, chunking=chunking,
                                   overwrite=overwrite, building=True)
                on_duplicate = "error"
            index.add(docs, on_duplicate=on_duplicate, batch_size=batch_size, commit_every=commit_every,
                      commit_seconds=commit_seconds, show_progress=show_progress)
            index._set_building(False)
        return index

    def _set_building(self, building: bool) -> None:
        if self.manifest.building != building:
            m = self.manifest
            commit_manifest(self.root, Manifest(self.spec, m.generation + 1, m.next_segment,
                                                [_copy_entry(e) for e in m.segments], building=building))
            self.reload()

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
        spec = self.spec
        name = getattr(embedder, "name", "?")
        if int(embedder.width) < spec.dim:
            raise IndexMismatchError(f"{self.root} was built with {spec.describe()}; the embedder {name!r} has width "
                                     f"{embedder.width}. Search with {spec.model!r} or rebuild the index.")
        agreement = probe_agreement(spec, embed_probe(embedder, spec.dim))
        if agreement < PROBE_MIN_COSINE:
            raise IndexMismatchError(
                f"{self.root} was built with {spec.describe()}, but the embedder {name!r} (width {embedder.width}) "
                f"gives different vectors (probe cosine {agreement:.3f} < {PROBE_MIN_COSINE}). "
                f"Search with {spec.model!r}, or rebuild the index with this model.")

    def _check_same_settings(self, dim, dtype, chunking) -> None:
        spec = self.spec
        if (dim not in (None, spec.dim)) or dtype != spec.dtype or chunking != spec.chunking:
            raise IndexMismatchError(f"cannot resume {self.root}: it was built with {spec.describe()}; "
                                     f"asked for dim {dim or spec.dim}, {dtype}, {chunking}")

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

    def reload(self) -> "Index":
        """Re-read the last commit (e.g. after another process added documents)."""
        with self._reload_lock:
            stamp = manifest_stamp(self.root)
            manifest = read_manifest(self.root)
            check_files(self.root, manifest)
            self._load(manifest)
            self._stamp = stamp
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
        """Embed and add documents; returns how many were added (repaired documents included).

        An id already in the index is an error (``on_duplicate="error"``, nothing is written),
        replaces the stored document (``"replace"``) or is left alone (``"skip"``), except that a
        document stored only in part (by a version that could split one across commits) is redone.
        Commits come every ``commit_every`` chunks or ``commit_seconds`` seconds, at document
        boundaries: a document and the deletion of its old version land in the same commit.
        """
        if on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, got {on_duplicate!r}")
        if embedder is not None and embedder is not self.embedder:
            self.attach(embedder)
        if self.embedder is None:
            raise ValueError(f"adding to {self.root} needs an embedder: Index.open(path, embedder) or add(..., embedder=)")
        docs = read_corpus(corpus)
        spec = self.spec
        with writer_lock(self.root):
            self.reload()  # another writer may have committed since we opened
            if self.spec != spec:
                raise IndexMismatchError(f"{self.root} was replaced while this writer had it open (now "
                                         f"{self.spec.describe()}); nothing was added")
            remove_debris(self.root, self.manifest)
            tokenizer = getattr(self.embedder, "tokenizer", None)
            chunked = [(d, chunk_text(d.text, tokenizer, self.spec.chunking)) for d in docs]
            chunked, replaced = self._resolve_duplicates(chunked, on_duplicate)
            chunks = [(d, i, len(cs), c) for d, cs in chunked for i, c in enumerate(cs)]
            self._embed_and_commit(chunks, set(replaced), batch_size, commit_every, commit_seconds, show_progress)
        return len(chunked)

    def add_vectors(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str] | None = None,
                    on_duplicate: str = "error") -> int:
        """Add precomputed document vectors (N, dim), one row per document, in one commit.

        The vectors must come from the model the index records (nothing here can check that);
        they are L2-normalised at ``dim`` like ``Embedder.encode`` output.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = [str(i) for i in ids]
        if vectors.shape != (len(ids), self.spec.dim):
            raise IndexMismatchError(f"vectors have shape {vectors.shape}; expected ({len(ids)}, {self.spec.dim}) "
                                     f"for {self.root} ({self.spec.describe()})")
        texts = list(texts) if texts is not None else [""] * len(ids)
        docs = read_corpus([Document(i, t) for i, t in zip(ids, texts)]) if ids else []
        with writer_lock(self.root):
            self.reload()
            remove_debris(self.root, self.manifest)
            kept, replaced = self._resolve_duplicates([(d, [None]) for d in docs], on_duplicate)
            keep = {d.id for d, _ in kept}
            sel = [n for n, i in enumerate(ids) if i in keep]
            rows = [{"id": ids[n], "chunk": 0, "n_chunks": 1, "start": 0, "end": len(texts[n]), "text": texts[n]}
                    for n in sel]
            if rows or replaced:
                self._commit_segment(vectors[sel], rows, replaced)
        return len(sel)

    def _resolve_duplicates(self, chunked: list, on_duplicate: str) -> tuple[list, list[str]]:
        """(documents to write, stored ids they replace). ``chunked``: [(Document, chunks)]."""
        dup = [d.id for d, _ in chunked if d.id in self._doc_rows]
        if not dup:
            return chunked, []
        if on_duplicate == "error":
            raise DuplicateIdError.for_ids(str(self.root), dup, "use on_duplicate='replace' (--replace) or 'skip' "
                                                               "(--skip-existing)")
        if on_duplicate == "skip":  # keep whole documents; redo partial ones
            redo = {d.id for d, cs in chunked if d.id in self._doc_rows and not self._stored_whole(d.id, len(cs))}
            return [(d, cs) for d, cs in chunked if d.id not in self._doc_rows or d.id in redo], sorted(redo)
        return chunked, dup

    def _stored_whole(self, doc_id: str, n_chunks: int) -> bool:
        """The stored chunks of ``doc_id`` are exactly chunks 0..n_chunks-1."""
        return sorted(self.record(r).get("chunk", 0) for r in self._doc_rows[doc_id]) == list(range(n_chunks))

    def partial_documents(self) -> list[str]:
        """Ids of documents whose stored chunks are not all of them (gaps, or fewer than recorded).

        Rows written since whole-document commits record ``n_chunks``; for older rows only gaps
        in the chunk numbers can be seen here. ``add(corpus, on_duplicate="skip")`` (``--resume``,
        ``--skip-existing``) compares with the corpus and redoes them either way.
        """
        out = []
        for doc, rows in self._doc_rows.items():
            recs = [self.record(r) for r in rows]
            numbers = sorted(r.get("chunk", 0) for r in recs)
            total = recs[0].get("n_chunks", numbers[-1] + 1)
            if numbers != list(range(total)):
                out.append(doc)
        return out

    def _embed_and_commit(self, chunks: list, replaced: set[str], batch_size: int, commit_every: int,
                          commit_seconds: float | None, show_progress: bool) -> None:
        """Embed ``chunks`` [(doc, chunk no, chunks in doc, Chunk)] and commit them in whole documents."""
        from tqdm.auto import tqdm

        if commit_every < 1:
            raise ValueError(f"commit_every must be >= 1, got {commit_every}")
        if commit_seconds is not None and commit_seconds <= 0:
            raise ValueError(f"commit_seconds must be > 0 (or None: count only), got {commit_seconds}")
        step_size = min(_ENCODE_STEP, commit_every)
        pending_vecs = np.zeros((0, self.spec.dim), np.float32)
        pending_rows: list[dict] = []
        last_commit = time.monotonic()
        with tqdm(total=len(chunks), desc="indexing", unit="chunk", disable=not show_progress, mininterval=1.0) as bar:
            for a in range(0, len(chunks), step_size):
                step = chunks[a: a + step_size]
                vecs = self.embedder.encode_documents([c.text for *_, c in step], dim=self.spec.dim, batch_size=batch_size)
                pending_vecs = np.concatenate([pending_vecs, np.asarray(vecs, np.float32)])
                pending_rows.extend(_row_record(d, i, n, c) for d, i, n, c in step)
                bar.update(len(step))
                due = len(pending_rows) >= commit_every or (
                    commit_seconds is not None and time.monotonic() - last_commit >= commit_seconds)
                if due:
                    # Cut after the last whole document: a document's chunks all land in one commit.
                    cut = _last_whole_document(pending_rows)
                    if cut:
                        self._commit_rows(pending_vecs[:cut], pending_rows[:cut], replaced)
                        pending_vecs, pending_rows = pending_vecs[cut:], pending_rows[cut:]
                        last_commit = time.monotonic()
        if pending_rows or replaced:
            self._commit_rows(pending_vecs, pending_rows, replaced, final=True)

    def _commit_rows(self, vectors: np.ndarray, rows: list[dict], replaced: set[str], final: bool = False) -> None:
        """Commit ``rows`` and delete the old versions of the documents among them (all of ``replaced`` if final)."""
        ids = {r["id"] for r in rows}
        gone = sorted(replaced if final else replaced & ids)
        replaced.difference_update(gone)
        self._commit_segment(vectors, rows, gone)

    def _commit_segment(self, vectors: np.ndarray, rows: list[dict], replaced: Sequence[str]) -> None:
        m = self.manifest
        segments = [_copy_entry(e) for e in m.segments]
        self._mark_deleted(segments, replaced)
        next_segment = m.next_segment
        if rows:
            stored, scales = quantize(vectors, self.spec.dtype)
            segments.append(write_segment(self.root, f"seg-{next_segment:06d}", stored, scales, rows))
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
                raise KeyError(f"{self.root} holds no document with id {', '.join(map(repr, unknown[:5]))}"
                               + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "") + "; nothing deleted")
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
                entries.append(write_segment(self.root, f"seg-{m.next_segment:06d}", np.concatenate(stored), sc, rows))
            commit_manifest(self.root, Manifest(self.spec, m.generation + 1, m.next_segment + 1, entries,
                                                building=m.building))
            self.reload()
            remove_debris(self.root, self.manifest)

    # ---- searching --------------------------------------------------------------------------

    def encode_queries(self, queries: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if self.embedder is None:
            raise ValueError(f"text queries need an embedder: Index.open({str(self.root)!r}, embedder) "
                             f"with the model the index was built with ({self.spec.model!r}), or pass vectors")
        instruction = instruction if instruction is not None else self.spec.instruction
        return self.embedder.encode_queries(list(queries), instruction=instruction, dim=self.spec.dim)

    def search(self, queries, top_k: int = 10, mode: str = "exact", instruction: str | None = None,
               ann: AnnConfig | None = None, funnel: FunnelConfig | None = None):
        """Best ``top_k`` documents per query: a list of Hits for one query (str or (dim,) vector),
        a list of lists for several (list of str or (Q, dim) array).

        mode: ``exact`` (inner product over every row), ``hnsw`` / ``ivf`` (faiss, approximate),
        ``funnel`` (MRL: low-dim pass, full-dim rescore).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.refresh()
        single, qv = self._query_vectors(queries, instruction)
        results = [[] for _ in range(len(qv))]
        n_live = self.num_chunks
        if n_live and len(qv):
            results = self._search_vectors(qv, top_k, mode, ann, funnel)
        return results[0] if single else results

    def _query_vectors(self, queries, instruction) -> tuple[bool, np.ndarray]:
        return query_matrix(queries, self.spec, str(self.root), lambda texts: self.encode_queries(texts, instruction))

    def _search_vectors(self, qv: np.ndarray, top_k: int, mode: str, ann, funnel) -> list[list[Hit]]:
        n_live = self.num_chunks
        several_chunks = len(self._doc_rows) < n_live
        m = min(n_live, top_k * 4 if several_chunks else top_k)
        while True:
            scores, rows = self._top_rows(qv, m, mode, ann, funnel)  # (Q, m') each, best first
            ranked = [best_per_document(s[r >= 0], r[r >= 0], self._row_doc, top_k) for s, r in zip(scores, rows)]
            if m >= n_live or all(len(x) >= min(top_k, len(self)) for x in ranked):
                break
            m = min(n_live, m * 4)  # many chunks of the same documents: look deeper
        return [[self._hit(r, s) for r, s in q] for q in ranked]

    def _top_rows(self, qv, m, mode, ann, funnel) -> tuple[np.ndarray, np.ndarray]:
        if mode == "exact":
            blocks = ((int(first), seg.vectors, seg.scales, self._live[first: first + seg.entry.rows])
                      for seg, first in zip(self.segments, self._offsets[:-1]))
            return exact_top_rows(qv, blocks, m)
        live_rows, dense = self.vectors()
        if mode == "funnel":
            funnel = funnel or FunnelConfig()
            d_low = funnel.first_pass_dim(self.spec.dim)
            key = ("low", self.generation, d_low)
            if key not in self._dense_cache:
                self._dense_cache[key] = low_dim_matrix(dense, d_low)
            out = [funnel_search(qv[a: a + 64], self._dense_cache[key], dense, m, funnel.candidates)
                   for a in range(0, len(qv), 64)]  # 64 queries at a time bounds the (Q, c, d) gather
            scores, local = np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
        else:
            ann = ann or AnnConfig(kind=mode)
            if ann.kind != mode:
                raise ValueError(f"search mode {mode!r} was given an AnnConfig of kind {ann.kind!r}")
            key = ("ann", self.generation, ann)
            if key not in self._dense_cache:
                self._dense_cache[key] = load_or_build(self.root / "ann", self.generation, lambda: dense, ann)
            scores, local = search_ann(self._dense_cache[key], qv, m, ann)
        rows = np.where(local >= 0, live_rows[np.maximum(local, 0)], -1)
        return scores, rows

    def _hit(self, r: int, score: float) -> Hit:
        rec = self.record(r)
        return Hit(id=rec["id"], score=float(score), text=rec.get("text", ""), chunk=rec.get("chunk", 0),
                   start=rec.get("start", 0), end=rec.get("end", 0), meta=rec.get("meta", {}))

    def __repr__(self) -> str:
        return (f"Index({str(self.root)!r}, {len(self)} documents, {self.num_chunks} chunks, {self.spec.describe()}, "
                f"generation {self.generation})")


def _row_record(doc: Document, chunk_no: int, n_chunks: int, chunk) -> dict:
    rec = {"id": doc.id, "chunk": chunk_no, "n_chunks": n_chunks, "start": chunk.start, "end": chunk.end,
           "text": chunk.text}
    if doc.meta:
        rec["meta"] = doc.meta
    return rec


def _last_whole_document(rows: list[dict]) -> int:
    """How many leading rows form whole documents (rows of one document are contiguous, in chunk order)."""
    last = rows[-1]
    if last.get("chunk", 0) + 1 == last.get("n_chunks", 1):
        return len(rows)
    n = len(rows)
    while n and rows[n - 1]["id"] == last["id"]:
        n -= 1
    return n


def _copy_entry(e):
    from .store import SegmentEntry

    return SegmentEntry(e.name, e.rows, e.files, list(e.deleted))


_INDEX_NAMES = {"manifest.json", ".manifest.json.tmp", "segments", "ann", LOCK}


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
