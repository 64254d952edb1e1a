"""Where the Ray driver writes: the embedded index (staged parts, then one commit) or a database store by
URL, pgvector or Qdrant (each part one idempotent write). Both answer the same three questions: which
documents are already committed, write these whole documents, and finish."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..stores.chunking import ChunkingConfig
from .index_parts import StagedParts


class IndexTarget:
    """The embedded index at ``root``: parts staged beside it, named in one commit at the end."""

    def __init__(self, root: Path, settings: dict, dim, dtype: str, instruction, chunking: ChunkingConfig,
                 overwrite: bool, resume: bool):
        from ..stores import Index
        from ..stores.ingest import check_resumable
        from ..stores.store import manifest_path

        self.root, self.dim, self.dtype, self.instruction, self.chunking = root, dim, dtype, instruction, chunking
        self.staged = StagedParts(root, settings)
        self.index = None
        if overwrite:
            self.staged.clear()
        elif manifest_path(root).exists():
            if not (resume or (self.staged.root / "run.json").exists()):
                raise FileExistsError(f"{root} already holds an index; pass --overwrite to replace it, --resume to add "
                                      "the documents it lacks, or add documents with `q3embed index add`")
            self.index = Index.open(root)
            check_resumable(self.index.spec, self.index.location, dim, dtype, chunking)
        done = self.index.whole_ids() if self.index is not None else set()
        self.done = done | self.staged.open(done)

    @property
    def needs_card(self) -> bool:
        return self.index is None

    def write(self, vectors: np.ndarray, rows: list[dict], card) -> None:
        self.staged.write(vectors, rows, self.dtype)

    def finish(self, card):
        from ..stores import Index

        if self.index is None:
            self.index = Index.create(self.root, card(), dim=self.dim, dtype=self.dtype, instruction=self.instruction,
                                      chunking=self.chunking, overwrite=True)
        self.staged.commit(self.index)
        return self.index


class StoreTarget:
    """A database store by URL (pgvector, Qdrant), written through the ``VectorStore`` contract only.

    Every part is one idempotent whole-document write (``add_records(..., on_duplicate="skip")``), so a
    killed driver loses at most the part in flight and a part written twice stores its rows once. The
    store is marked ``building`` until the end; the same command continues it, skipping ``whole_ids()``.
    """

    def __init__(self, url: str, dim, dtype: str, instruction, chunking: ChunkingConfig, overwrite: bool,
                 resume: bool):
        from ..stores.errors import IndexNotFoundError
        from ..stores.ingest import check_resumable
        from ..stores.open import open_store

        self.url, self.dim, self.dtype, self.instruction, self.chunking = url, dim, dtype, instruction, chunking
        self.overwrite = overwrite
        self.store = None
        if not overwrite:
            try:
                self.store = open_store(url)
            except IndexNotFoundError:
                self.store = None
        if self.store is not None:
            if not (resume or self.store.interrupted):
                location = self.store.location
                self.store.close()
                raise FileExistsError(f"{location} already exists; pass --overwrite to replace it or --resume to add "
                                      "the documents it lacks")
            check_resumable(self.store.spec, self.store.location, dim, dtype, chunking)
        self.done = self.store.whole_ids() if self.store is not None else set()
        self._writing = None

    @property
    def needs_card(self) -> bool:
        return self.store is None

    def _open_for_writes(self, card) -> None:
        from ..stores.open import create_store

        if self.store is None:
            self.store = create_store(self.url, card(), dim=self.dim, dtype=self.dtype, instruction=self.instruction,
                                      chunking=self.chunking, overwrite=self.overwrite, building=True)
        if self._writing is None:  # one writer from the first part to the last, like the index's lock
            self._writing = self.store.writer()
            self._writing.__enter__()
            self.store.set_building(True)

    def write(self, vectors: np.ndarray, rows: list[dict], card) -> None:
        self._open_for_writes(card)
        self.store.add_records(rows, vectors, on_duplicate="skip")  # also redoes documents stored in part

    def finish(self, card):
        self._open_for_writes(card)
        self.store.set_building(False)
        self._writing.__exit__(None, None, None)
        return self.store
