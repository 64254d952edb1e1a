"""Chunk -> embed -> write in whole documents: the part of ``add`` every store shares.

A store supplies ``stored_chunks(ids)`` (what it holds of those documents) and
``add_records(records, vectors, on_duplicate)`` (one commit or transaction); ``add_documents``
does the rest, so each store's ``add`` is one call and a third store is one file.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np

from ..data.corpus import Document, read_corpus
from .chunking import chunk_text
from .errors import DuplicateIdError, IndexMismatchError
from .protocol import ON_DUPLICATE
from .spec import PROBE_MIN_COSINE, IndexSpec, embed_probe, probe_agreement

# A build or add commits at least this often (at the next document boundary after it passes), so a
# kill loses at most about a minute of embedding however slow the model is.
COMMIT_SECONDS = 60.0
ENCODE_STEP = 256  # chunks per encode call, so progress moves and memory stays flat


def check_on_duplicate(on_duplicate: str) -> str:
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}, got {on_duplicate!r}")
    return on_duplicate


def check_embedder(spec: IndexSpec, embedder, where: str) -> None:
    """Refuse an embedder that is not the model ``where`` was built with (width, then probe vectors)."""
    name = getattr(embedder, "name", "?")
    if int(embedder.width) < spec.dim:
        raise IndexMismatchError(f"{where} was built with {spec.describe()}; the embedder {name!r} has width "
                                 f"{embedder.width}. Use {spec.model!r} or rebuild it.")
    agreement = probe_agreement(spec, embed_probe(embedder, spec.dim))
    if agreement < PROBE_MIN_COSINE:
        raise IndexMismatchError(
            f"{where} was built with {spec.describe()}, but the embedder {name!r} (width {embedder.width}) "
            f"gives different vectors (probe cosine {agreement:.3f} < {PROBE_MIN_COSINE}). "
            f"Use {spec.model!r}, or rebuild it with this model.")


def check_resumable(spec: IndexSpec, where: str, dim: int | None, dtype: str, chunking,
                    binary_dim: int | None = None) -> None:
    """Refuse to resume a store with other settings than the build asks for (``None`` dim: any)."""
    if (dim not in (None, spec.dim)) or dtype != spec.dtype or chunking != spec.chunking:
        raise IndexMismatchError(f"cannot resume {where}: it was built with {spec.describe()}; "
                                 f"asked for dim {dim or spec.dim}, {dtype}, {chunking}")
    if binary_dim is not None and binary_dim != spec.binary_dim:
        raise IndexMismatchError(f"cannot resume {where}: it was built with binary_dim {spec.binary_dim} "
                                 f"({spec.describe()}); asked for binary_dim {binary_dim}")


def whole_ids_of(chunks: Iterable[tuple[str, int, int]]) -> set[str]:
    """Ids of whole documents from (doc id, chunk number, n_chunks) rows, for stores that cannot ask in SQL."""
    seen: dict[str, tuple[set[int], set[int]]] = {}
    for doc, chunk, n in chunks:
        numbers, counts = seen.setdefault(doc, (set(), set()))
        numbers.add(chunk)
        counts.add(n)
    # one version only: chunks left by a longer old version (a kill between a store's upsert and its
    # cleanup) carry another count, and would otherwise make a short new version look whole
    return {d for d, (numbers, counts) in seen.items() if len(counts) == 1 and numbers == set(range(counts.pop()))}


def row_record(doc: Document, chunk_no: int, n_chunks: int, chunk) -> dict:
    rec = {"id": doc.id, "chunk": chunk_no, "n_chunks": n_chunks, "start": chunk.start, "end": chunk.end,
           "text": chunk.text}
    if doc.meta:
        rec["meta"] = doc.meta
    return rec


def check_records(records: Sequence[dict], vectors: np.ndarray, spec: IndexSpec, where: str) -> np.ndarray:
    """Validate a write: (len(records), dim) vectors, and records that hold whole documents.

    Returns the vectors as float32. Records missing ``n_chunks`` get the count they arrive with.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.shape != (len(records), spec.dim):
        raise IndexMismatchError(f"vectors have shape {vectors.shape}; expected ({len(records)}, {spec.dim}) "
                                 f"for {where} ({spec.describe()})")
    by_doc: dict[str, list[dict]] = {}
    for r in records:
        if "id" not in r:
            raise ValueError(f"a record for {where} has no 'id': {sorted(r)}")
        by_doc.setdefault(str(r["id"]), []).append(r)
    for doc, rows in by_doc.items():
        for r in rows:
            r.setdefault("chunk", 0)
            r.setdefault("n_chunks", len(rows))
            r.setdefault("text", "")
            r.setdefault("start", 0)
            r.setdefault("end", len(r["text"]))
        if sorted(r["chunk"] for r in rows) != list(range(rows[0]["n_chunks"])):
            raise ValueError(f"records for document {doc!r} hold chunks {sorted(r['chunk'] for r in rows)} of "
                             f"{rows[0]['n_chunks']}; a write must hold whole documents")
    return vectors


def whole(stored: Sequence[int], n_chunks: int) -> bool:
    return sorted(stored) == list(range(n_chunks))


def add_documents(store, corpus, embedder, on_duplicate: str = "error", batch_size: int = 32,
                  commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS,
                  show_progress: bool = False) -> int:
    """Embed ``corpus`` and write it through ``store.add_records`` in whole documents; returns documents written.

    Duplicates are resolved first (``error`` refuses before anything is written; ``skip`` keeps
    whole stored documents and redoes partial ones). Commits come every ``commit_every`` chunks
    or ``commit_seconds`` seconds, at the next document boundary.
    """
    from ..progress import tqdm

    check_on_duplicate(on_duplicate)
    if commit_every < 1:
        raise ValueError(f"commit_every must be >= 1, got {commit_every}")
    if commit_seconds is not None and commit_seconds <= 0:
        raise ValueError(f"commit_seconds must be > 0 (or None: count only), got {commit_seconds}")
    if embedder is None:
        raise ValueError(f"adding to {store.location} needs an embedder (open it with one, or pass embedder=)")
    docs = read_corpus(corpus)
    tokenizer = getattr(embedder, "tokenizer", None)
    chunked = [(d, chunk_text(d.text, tokenizer, store.spec.chunking)) for d in docs]
    stored = store.stored_chunks([d.id for d in docs])
    if stored and on_duplicate == "error":
        raise DuplicateIdError.for_ids(store.location, list(stored), DUPLICATE_HINT)
    if on_duplicate == "skip":
        chunked = [(d, cs) for d, cs in chunked if d.id not in stored or not whole(stored[d.id], len(cs))]
    chunks = [(d, i, len(cs), c) for d, cs in chunked for i, c in enumerate(cs)]
    step_size = min(ENCODE_STEP, commit_every)
    dim = store.spec.dim
    pending_vecs = np.zeros((0, dim), np.float32)
    pending_rows: list[dict] = []
    last_commit = time.monotonic()
    with tqdm(total=len(chunks), desc="indexing", unit="chunk", disable=not show_progress) as bar:
        for a in range(0, len(chunks), step_size):
            step = chunks[a: a + step_size]
            vecs = embedder.encode_documents(_inputs(step, embedder), dim=dim, batch_size=batch_size)
            pending_vecs = np.concatenate([pending_vecs, np.asarray(vecs, np.float32)])
            pending_rows.extend(row_record(d, i, n, c) for d, i, n, c in step)
            bar.update(len(step))
            due = len(pending_rows) >= commit_every or (
                commit_seconds is not None and time.monotonic() - last_commit >= commit_seconds)
            cut = last_whole_document(pending_rows) if due else 0
            if cut:  # a document's chunks all land in one commit, with the deletion of its old version
                store.add_records(pending_rows[:cut], pending_vecs[:cut], on_duplicate="replace")
                pending_vecs, pending_rows = pending_vecs[cut:], pending_rows[cut:]
                last_commit = time.monotonic()
    if pending_rows:
        store.add_records(pending_rows, pending_vecs, on_duplicate="replace")
    return len(chunked)


def _inputs(step, embedder) -> list:
    """The model inputs of a step's chunks: the text, or for an image/PDF-page document (data/pages.py)
    its image with any caption, which only a vision-language embedder can read."""
    from ..data.pages import document_input

    if not getattr(embedder, "is_vl", False):
        media = next((d.id for d, *_ in step if d.meta and ("image" in d.meta or "pdf" in d.meta)), None)
        if media is not None:
            raise ValueError(f"document {media!r} is an image or PDF page; embedding it needs a Qwen3-VL model")
        return [c.text for *_, c in step]
    return [document_input(d.meta, c.text) for d, _, _, c in step]


DUPLICATE_HINT = "use on_duplicate='replace' (--replace) or 'skip' (--skip-existing)"


def drop_duplicates(records: list[dict], vectors: np.ndarray, stored: dict[str, list[int]], on_duplicate: str,
                    where: str) -> tuple[list[dict], np.ndarray]:
    """Every store's on_duplicate rule for chunk records against what it holds (doc id -> stored chunk
    numbers): 'error' refuses any stored id; 'skip' drops documents already stored whole, so a document
    stored only in part is written again; 'replace' keeps every record."""
    if stored and on_duplicate == "error":
        raise DuplicateIdError.for_ids(where, list(stored), DUPLICATE_HINT)
    if stored and on_duplicate == "skip":
        n_of = {r["id"]: r["n_chunks"] for r in records}
        done = {i for i, cs in stored.items() if whole(cs, n_of[i])}
        sel = [n for n, r in enumerate(records) if r["id"] not in done]
        records, vectors = [records[n] for n in sel], vectors[sel]
    return records, vectors


def last_whole_document(rows: list[dict]) -> int:
    """How many leading rows form whole documents (rows of one document are contiguous, in chunk order)."""
    last = rows[-1]
    if last.get("chunk", 0) + 1 == last.get("n_chunks", 1):
        return len(rows)
    n = len(rows)
    while n and rows[n - 1]["id"] == last["id"]:
        n -= 1
    return n


def matches(meta: dict | None, where: dict | None) -> bool:
    """Metadata filter shared by the stores: every key of ``where`` equals the document's value."""
    return not where or all((meta or {}).get(k) == v for k, v in where.items())
