"""Where the Ray driver writes: the embedded index (staged parts, then one commit) or a database store
(each part one transaction). Both answer the same three questions: which documents are already
committed, write these whole documents, and finish."""

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
            self.index._check_same_settings(dim, dtype, chunking)
        done = set(self.index.ids()) if self.index is not None else set()
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
    """A database store (pgvector): every part is one transaction, so a killed driver loses at most the
    part in flight. The store is marked ``building`` until the end; the same command continues it."""

    def __init__(self, url: str, dim, dtype: str, instruction, chunking: ChunkingConfig, overwrite: bool,
                 resume: bool):
        from ..stores.errors import IndexNotFoundError
        from ..stores.pgvector import PgVectorStore, check_not_mismatched

        self.url, self.dim, self.dtype, self.instruction, self.chunking = url, dim, dtype, instruction, chunking
        self.overwrite = overwrite
        self.store = None
        if not overwrite:
            try:
                self.store = PgVectorStore.open(url)
            except IndexNotFoundError:
                self.store = None
        if self.store is not None:
            if not (resume or self.store.interrupted):
                location = self.store.location
                self.store.close()
                raise FileExistsError(f"{location} already exists; pass --overwrite to replace it or --resume to add "
                                      "the documents it lacks")
            check_not_mismatched(self.store, dim, dtype, chunking)
        self.done = whole_documents(self.store) if self.store is not None else set()
        self._lock = None

    @property
    def needs_card(self) -> bool:
        return self.store is None

    def _open_for_writes(self, card) -> None:
        from ..stores.pgvector import PgVectorStore

        if self.store is None:
            self.store = PgVectorStore.create(self.url, card(), dim=self.dim, dtype=self.dtype,
                                              instruction=self.instruction, chunking=self.chunking,
                                              overwrite=self.overwrite, building=True)
        if self._lock is None:  # one writer from the first part to the last, like the index's lock
            self._lock = self.store._writer()
            self._lock.__enter__()
            self.store.set_building(True)

    def write(self, vectors: np.ndarray, rows: list[dict], card) -> None:
        self._open_for_writes(card)
        self.store.add_records(rows, vectors, on_duplicate="skip")  # "skip" also redoes partial documents

    def finish(self, card):
        self._open_for_writes(card)
        self.store.set_building(False)
        self._lock.__exit__(None, None, None)
        return self.store


def whole_documents(store) -> set[str]:
    """Ids of the documents a pgvector store holds with all their chunks."""
    rows = store.conn.execute(f"SELECT doc_id FROM {store._table} GROUP BY doc_id "
                              "HAVING count(*) = max(n_chunks)").fetchall()
    return {r[0] for r in rows}
