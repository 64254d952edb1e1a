"""``VectorStore``: the one contract every store keeps (embedded ``Index``, Qdrant, pgvector).

Same signatures, same return types, same errors:

- ``add`` / ``add_records`` refuse a stored id with ``DuplicateIdError`` (``on_duplicate="error"``)
  before writing anything; ``"replace"`` swaps a document in the commit/transaction that writes
  the new version; ``"skip"`` keeps whole stored documents and redoes partial ones.
- ``delete`` returns how many documents went; unknown ids raise ``UnknownIdError`` (nothing is
  deleted) unless ``missing="ignore"``.
- ``search`` returns ``list[Hit]`` for one query (str or (dim,) vector) and ``list[list[Hit]]``
  for several; each document once, scored by its best chunk. ``mode`` picks the first stage(s):
  ``dense`` (inner product), ``lexical`` (BM25 over the chunk text, analysed by ``spec.analyzer``)
  or ``hybrid`` (both, fused by ``fusion``: RRF k=60 by default); lexical and hybrid need the
  query text (text queries, or ``texts=`` beside vectors). Every hit lists the stage(s) that
  found it (``Hit.stages``). ``method`` is how the dense stage searches (``search_methods``:
  ``exact`` first; every store also has ``hnsw``). ``where`` keeps documents whose metadata
  holds every given key/value. ``tuning`` is an ``AnnConfig`` for ``method="hnsw"``
  (``ef_search`` is read by every store), a ``FunnelConfig`` for the embedded index's
  ``method="funnel"``, or a ``BinaryConfig`` (oversample, rescore) for ``method="binary"``, which
  every store has for a store created with ``binary_dim``. ``modes.run_search`` implements all of this over a store's
  ``_dense_hits`` and ``_lexical_hits``.
- ``check_embedder`` raises ``IndexMismatchError`` for another model or dim; stores call it in
  ``open``/``attach`` before anything is written.

What a builder that runs elsewhere (``distributed``: Ray workers embed, the driver writes) needs,
so that it never reaches into a store's internals:

- ``whole_ids()``: the documents stored with all their chunks, which a resumed build skips.
- ``add_records(records, vectors, on_duplicate="skip")`` is the idempotent whole-document write:
  one commit/transaction (Qdrant: one upsert of stable point ids per chunk); a document already
  stored whole is left alone and one stored in part is replaced, so a write retried after a kill
  or a Ray task retry never stores a row twice.
- ``writer()``: one writer at a time across many writes (re-entrant in its process); a second
  writer gets ``IndexBusyError``. ``set_building``/``interrupted``: a build marks the store
  unfinished until its last write, so the same command can tell "resume" from "already built".

A new store is one file: keep ``spec`` beside the data, write records transactionally in whole
documents, and reuse ``ingest.add_documents`` for chunk -> embed -> write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import numpy as np

from .hits import Hit
from .spec import IndexSpec

ON_DUPLICATE = ("error", "replace", "skip")


@runtime_checkable
class VectorStore(Protocol):
    spec: IndexSpec  # the embedding spec: model, dim, dtype, instruction (+ chunking and probe vectors)
    search_methods: tuple[str, ...]  # how the dense stage searches: "exact" first; every store also has "hnsw"

    @property
    def location(self) -> str:
        """Where the store lives, for messages: a path, or a URL without its password plus the collection."""

    def check_embedder(self, embedder) -> None: ...

    def attach(self, embedder) -> "VectorStore": ...

    def add(self, corpus, embedder=None, on_duplicate: str = "error", batch_size: int = 32,
            commit_every: int = 8192, commit_seconds: float | None = 60.0, show_progress: bool = False) -> int: ...

    def add_records(self, records: Sequence[dict], vectors: np.ndarray, on_duplicate: str = "error") -> int: ...

    def stored_chunks(self, ids: Iterable[str]) -> dict[str, list[int]]:
        """Chunk numbers held for each of ``ids`` that is stored (how resume tells whole from partial)."""

    def whole_ids(self) -> set[str]:
        """Ids of every document stored with all its chunks (a resumed build skips exactly these)."""

    def partial_documents(self) -> list[str]:
        """Ids of documents stored without all their chunks (``index info --verify`` reports them)."""

    def writer(self) -> AbstractContextManager:
        """Hold the store's one writer slot across several writes; ``IndexBusyError`` if another holds it."""

    @property
    def interrupted(self) -> bool:
        """True while a build is unfinished: running, or killed before its last write."""

    def set_building(self, building: bool) -> None:
        """Mark a build started (True) or finished (False)."""

    def delete(self, ids: Iterable[str], missing: str = "error") -> int: ...

    def search(self, queries, top_k: int = 10, mode: str = "dense", method: str = "exact",
               instruction: str | None = None, where: dict | None = None, tuning=None, texts=None,
               fusion=None) -> list[Hit] | list[list[Hit]]: ...

    def count(self) -> int: ...

    def close(self) -> None: ...
