"""Open or build a store from what a user types: an index directory (the default) or a store URL.

``postgresql://user@host/db?collection=NAME`` is a ``PgVectorStore``; ``qdrant://host[:port]?collection=NAME``
(a server) or ``qdrant:///abs/folder?collection=NAME`` (local mode) a ``QdrantStore``; anything else is
a path to an embedded ``Index``.
"""

from __future__ import annotations

from ..data.corpus import read_corpus
from .chunking import ChunkingConfig
from .ingest import COMMIT_SECONDS, check_resumable
from .local_index import Index

URL_SCHEMES = ("postgresql", "postgres", "qdrant")


def is_store_url(target) -> bool:
    return isinstance(target, str) and target.split("://", 1)[0] in URL_SCHEMES


def open_store(target, embedder=None, verify: bool = False):
    """The ``VectorStore`` at ``target`` (path or URL), checked against ``embedder`` when one is given.
    ``IndexNotFoundError`` when nothing is there."""
    if is_store_url(target):
        if target.startswith("qdrant://"):
            from .qdrant import open_qdrant

            return open_qdrant(target, embedder)
        from .pgvector import PgVectorStore

        return PgVectorStore.open(target, embedder)
    return Index.open(target, embedder, verify=verify)


def create_store(target, embedder, *, dim: int | None = None, dtype: str = "float32", instruction: str | None = None,
                 chunking: ChunkingConfig | None = None, overwrite: bool = False, building: bool = False,
                 binary_dim: int = 0):
    """An empty store at ``target`` (path or URL) that records how ``embedder`` embeds."""
    kwargs = {"dim": dim, "dtype": dtype, "instruction": instruction, "chunking": chunking, "overwrite": overwrite,
              "building": building, "binary_dim": binary_dim}
    if not is_store_url(target):
        return Index.create(target, embedder, **kwargs)
    if target.startswith("qdrant://"):
        from .qdrant import create_qdrant

        return create_qdrant(target, embedder, **kwargs)
    from .pgvector import PgVectorStore

    return PgVectorStore.create(target, embedder, **kwargs)


def build_store(target, corpus, embedder, *, dim: int | None = None, dtype: str = "float32",
                instruction: str | None = None, chunk_tokens: int = 0, chunk_overlap: int = 0, batch_size: int = 32,
                commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS, overwrite: bool = False,
                resume: bool = False, show_progress: bool = False, binary_dim: int = 0):
    """``Index.build`` for a path; the same steps (mark building, add, unmark) for a store URL."""
    if not is_store_url(target):
        return Index.build(target, corpus, embedder, dim=dim, dtype=dtype, instruction=instruction,
                           chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, batch_size=batch_size,
                           commit_every=commit_every, commit_seconds=commit_seconds, overwrite=overwrite,
                           resume=resume, show_progress=show_progress, binary_dim=binary_dim)
    from .errors import IndexNotFoundError

    docs = read_corpus(corpus)
    chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
    store = None
    if resume:
        try:
            store = open_store(target, embedder)
        except IndexNotFoundError:
            store = None
    if store is not None:
        check_resumable(store.spec, store.location, dim, dtype, chunking, binary_dim)
        on_duplicate = "skip"
    else:
        store = create_store(target, embedder, dim=dim, dtype=dtype, instruction=instruction, chunking=chunking,
                             overwrite=overwrite, building=True, binary_dim=binary_dim)
        on_duplicate = "error"
    with store.writer():  # held from the first write to the last, like the embedded index's lock
        store.set_building(True)
        store.add(docs, on_duplicate=on_duplicate, batch_size=batch_size, commit_every=commit_every,
                  commit_seconds=commit_seconds, show_progress=show_progress)
        store.set_building(False)
    return store
