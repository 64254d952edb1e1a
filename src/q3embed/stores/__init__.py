"""Vector stores behind one contract (``VectorStore``): the embedded ``Index`` (default), Qdrant and
pgvector, plus two-stage search (embed -> top-k -> rerank)."""

from .ann import AnnConfig
from .chunking import ChunkingConfig
from .errors import (DuplicateIdError, IndexBusyError, IndexCorruptError, IndexMismatchError, IndexNotFoundError,
                     StoreExistsError, StoreUnavailableError, UnknownIdError)
from .binary import BinaryConfig
from .funnel import FunnelConfig
from .fusion import SEARCH_MODES, FusionConfig
from .hits import Hit
from .local_index import SEARCH_METHODS, Index
from .open import open_store
from .protocol import VectorStore
from .retrieval import Retriever
from .spec import IndexSpec

__all__ = ["AnnConfig", "BinaryConfig", "ChunkingConfig", "DuplicateIdError", "FunnelConfig", "FusionConfig", "Hit", "Index",
           "IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError", "IndexSpec",
           "Retriever", "SEARCH_METHODS", "SEARCH_MODES", "StoreExistsError", "StoreUnavailableError", "UnknownIdError", "VectorStore", "open_store"]
