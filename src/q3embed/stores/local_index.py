"""``Index``: an embedded, crash-safe vector index on disk with exact, approximate and funnel search.

>>> idx = Index.build("scifact.idx", "corpus.jsonl", Embedder.load("minilm"))
>>> idx.search("what do mitochondria do?", top_k=5)           # exact inner product
>>> idx.search(query_vectors, mode="hnsw")                     # (Q, dim) vectors work too
>>> idx.add("more.jsonl"); idx.delete(["doc-7"]); len(idx)     # each call is one commit
"""

from __future__ import annotations

import shutil
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
from .store import (Manifest, Segment, check_files, commit_manifest, load_segment, manifest_path, read_manifest,
                    remove_debris, write_segment, writer_lock)

SEARCH_MODES = ("exact", "hnsw", "ivf", "funnel")
ON_DUPLICATE = ("error", "replace", "skip")
_ENCODE_STEP = 256  # chunks per encode call, so progress moves and memory stays flat


class Index:
    def __init__(self, root: Path, manifest: Manifest, embedder=None):
        self.root = root
        self._load(manifest)
        self.embedder = embedder

    # ---- opening and building -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, embedder=None, verify: bool = False) -> "Index":
        """Open the last commit. ``verify`` also checks every file's sha256 (sizes are always checked)."""
        root = Path(path).expanduser()
        manifest = read_manifest(root)
        check_files(root, manifest, verify=verify)
        index = cls(root, manifest)
        if embedder is not None:
            index.attach(embedder)
        return index

    @classmethod
    def create(cls, path: str | Path, embedder, dim: int | None = None, dtype: str = "float32",
               instruction: str | None = None, chunking: ChunkingConfig | None = None,
               overwrite: bool = False) -> "Index":
        """An empty, committed index (generation 0) that records how it embeds."""
        root = Path(path).expanduser()
        check_storage_dtype(dtype)
        dim = embedder.check_dim(dim) if hasattr(embedder, "check_dim") else int(dim or embedder.width)
        if root.exists() and any(root.iterdir()):
            if not _looks_like_index(root):
                raise FileExistsError(f"{root} is a non-empty directory that is not a q3embed index; "
                                      "choose a new or empty directory")
            if not overwrite:
                what = "an index" if manifest_path(root).exists() else "an unfinished index build"
                raise FileExistsError(f"{root} already holds {what}; pass overwrite=True (--overwrite) to replace it, "
                                      "or add documents to an existing index with `q3embed index add`")
            _remove_tree(root)
        root.mkdir(parents=True, exist_ok=True)
        spec = IndexSpec(model=model_reference(embedder), width=int(embedder.width), dim=dim, dtype=dtype,
                         instruction=instruction, chunking=chunking or ChunkingConfig(),
                         probe=tuple(map(tuple, embed_probe(embedder, dim).tolist())))
        with writer_lock(root):
            commit_manifest(root, Manifest(spec))
        return cls(root, read_manifest(root), embedder)

    @classmethod
    def build(cls, path: str | Path, corpus, embedder, *, dim: int | None = None, dtype: str = "float32",
              instruction: str | None = None, chunk_tokens: int = 0, chunk_overlap: int = 0, batch_size: int = 32,
              commit_every: int = 8192, overwrite: bool = False, resume: bool = False,
              show_progress: bool = False) -> "Index":
        """Embed ``corpus`` (path or iterable, see ``read_corpus``) into a new index at ``path``.

        Commits every ``commit_every`` chunks. ``resume=True`` continues an index that a killed
        build left behind (same model and settings), skipping documents it already holds.
        """
        docs = read_corpus(corpus)  # bad input fails before anything is written
        chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
        if resume and manifest_path(Path(path).expanduser()).exists():
            index = cls.open(path, embedder)
            index._check_same_settings(dim, dtype, chunking)
            index.add(docs, on_duplicate="skip", batch_size=batch_size, commit_every=commit_every,
                      show_progress=show_progress)
            return index
        index = cls.create(path, embedder, dim=dim, dtype=dtype, instruction=instruction, chunking=chunking,
                           overwrite=overwrite)
        index.add(docs, batch_size=batch_size, commit_every=commit_every, show_progress=show_progress)
        return index

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
        manifest = read_manifest(self.root)
        check_files(self.root, manifest)
        self._load(manifest)
        return self

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
            commit_every: int = 8192, show_progress: bool = False) -> int:
        """Embed and add documents; returns how many were added.

        An id already in the index is an error (``on_duplicate="error"``, nothing is written),
        replaces the stored document (``"replace"``, in the same commit) or is left alone (``"skip"``).
        """
        if on_duplicate not in ON_DUPLICATE:
            raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, got {on_duplicate!r}")
        if embedder is not None and embedder is not self.embedder:
            self.attach(embedder)
        if self.embedder is None:
            raise ValueError(f"adding to {self.root} needs an embedder: Index.open(path, embedder) or add(..., embedder=)")
        docs = read_corpus(corpus)
        with writer_lock(self.root):
            self.reload()  # another writer may have committed since we opened
            remove_debris(self.root, self.manifest)
            docs, replaced = self._resolve_duplicates(docs, on_duplicate)
            chunks = [(d, i, c) for d in docs for i, c in enumerate(chunk_text(d.text, getattr(self.embedder, "tokenizer", None),
                                                                                self.spec.chunking))]
            self._embed_and_commit(chunks, replaced, batch_size, commit_every, show_progress)
        return len(docs)

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
            kept, replaced = self._resolve_duplicates(docs, on_duplicate)
            keep = {d.id for d in kept}
            sel = [n for n, i in enumerate(ids) if i in keep]
            rows = [{"id": ids[n], "chunk": 0, "start": 0, "end": len(texts[n]), "text": texts[n]} for n in sel]
            if rows or replaced:
                self._commit_segment(vectors[sel], rows, replaced)
        return len(sel)

    def _resolve_duplicates(self, docs: list[Document], on_duplicate: str) -> tuple[list[Document], list[str]]:
        dup = [d.id for d in docs if d.id in self._doc_rows]
        if not dup:
            return docs, []
        if on_duplicate == "error":
            raise DuplicateIdError.for_ids(str(self.root), dup, "use on_duplicate='replace' (--replace) or 'skip' "
                                                               "(--skip-existing)")
        if on_duplicate == "skip":
            return [d for d in docs if d.id not in self._doc_rows], []
        return docs, dup

    def _embed_and_commit(self, chunks: list, replaced: list[str], batch_size: int, commit_every: int,
                          show_progress: bool) -> None:
        from tqdm.auto import tqdm

        if commit_every < 1:
            raise ValueError(f"commit_every must be >= 1, got {commit_every}")
        step_size = min(_ENCODE_STEP, commit_every)
        pending_vecs, pending_rows = [], []
        with tqdm(total=len(chunks), desc="indexing", unit="chunk", disable=not show_progress) as bar:
            for a in range(0, len(chunks), step_size):
                step = chunks[a: a + step_size]
                pending_vecs.append(self.embedder.encode_documents([c.text for _, _, c in step], dim=self.spec.dim,
                                                                   batch_size=batch_size))
                pending_rows.extend(_row_record(d, i, c) for d, i, c in step)
                bar.update(len(step))
                if len(pending_rows) >= commit_every:
                    self._commit_segment(np.concatenate(pending_vecs), pending_rows, replaced)
                    pending_vecs, pending_rows, replaced = [], [], []
        if pending_rows or replaced:
            vecs = np.concatenate(pending_vecs) if pending_vecs else np.zeros((0, self.spec.dim), np.float32)
            self._commit_segment(vecs, pending_rows, replaced)

    def _commit_segment(self, vectors: np.ndarray, rows: list[dict], replaced: Sequence[str]) -> None:
        m = self.manifest
        segments = [_copy_entry(e) for e in m.segments]
        self._mark_deleted(segments, replaced)
        next_segment = m.next_segment
        if rows:
            stored, scales = quantize(vectors, self.spec.dtype)
            segments.append(write_segment(self.root, f"seg-{next_segment:06d}", stored, scales, rows))
            next_segment += 1
        commit_manifest(self.root, Manifest(self.spec, m.generation + 1, next_segment, segments))
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
            commit_manifest(self.root, Manifest(self.spec, m.generation + 1, m.next_segment + 1, entries))
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


def _row_record(doc: Document, chunk_no: int, chunk) -> dict:
    rec = {"id": doc.id, "chunk": chunk_no, "start": chunk.start, "end": chunk.end, "text": chunk.text}
    if doc.meta:
        rec["meta"] = doc.meta
    return rec


def _copy_entry(e):
    from .store import SegmentEntry

    return SegmentEntry(e.name, e.rows, e.files, list(e.deleted))


_INDEX_NAMES = {"manifest.json", ".manifest.json.tmp", "segments", "ann", ".lock"}


def _looks_like_index(root: Path) -> bool:
    """Only q3embed's own names inside: safe to replace (an interrupted first build included)."""
    return all(p.name in _INDEX_NAMES for p in root.iterdir())


def _remove_tree(root: Path) -> None:
    """Remove an old index: un-commit first, so a kill midway leaves no openable half-index."""
    manifest_path(root).unlink(missing_ok=True)
    for p in root.iterdir():
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
