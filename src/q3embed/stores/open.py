"""Open or build a store from what a user types: an index directory (the default) or a store URL.

``postgresql://user@host/db?collection=NAME`` opens a ``PgVectorStore``; anything else is a path
to an embedded ``Index``.
"""

from __future__ import annotations

from .chunking import ChunkingConfig
from .corpus import read_corpus
from .ingest import COMMIT_SECONDS
from .local_index import Index


def is_store_url(target) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0] in ("postgresql", "postgres")


def open_store(target, embedder=None, verify: bool = False):
    """The ``VectorStore`` at ``target`` (path or URL), checked against ``embedder`` when one is given."""
    if is_store_url(target):
        from .pgvector import PgVectorStore

        return PgVectorStore.open(target, embedder)
    return Index.open(target, embedder, verify=verify)


def build_store(target, corpus, embedder, *, dim: int | None = None, dtype: str = "float32",
                instruction: str | None = None, chunk_tokens: int = 0, chunk_overlap: int = 0, batch_size: int = 32,
                commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS, overwrite: bool = False,
                resume: bool = False, show_progress: bool = False):
    """``Index.build`` for a path; the same steps (mark building, add, unmark) for a store URL."""
    if not is_store_url(target):
        return Index.build(target, corpus, embedder, dim=dim, dtype=dtype, instruction=instruction,
                           chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, batch_size=batch_size,
                           commit_every=commit_every, commit_seconds=commit_seconds, overwrite=overwrite,
                           resume=resume, show_progress=show_progress)
    from .errors import IndexNotFoundError
    from .pgvector import PgVectorStore, check_not_mismatched

    docs = read_corpus(corpus)
    chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
    store = None
    if resume:
        try:
            store = PgVectorStore.open(target, embedder)
        except IndexNotFoundError:
            store = None
    if store is not None:
        check_not_mismatched(store, dim, dtype, chunking)
        on_duplicate = "skip"
    else:
        store = PgVectorStore.create(target, embedder, dim=dim, dtype=dtype, instruction=instruction,
                                     chunking=chunking, overwrite=overwrite, building=True)
        on_duplicate = "error"
    with store._writer():  # held from the first write to the last, like the embedded index's lock
        store.set_building(True)
        store.add(docs, on_duplicate=on_duplicate, batch_size=batch_size, commit_every=commit_every,
                  commit_seconds=commit_seconds, show_progress=show_progress)
        store.set_building(False)
    return store
