"""Embedded vector index and two-stage search (embed -> top-k -> rerank), plus a Qdrant adapter."""

from .ann import AnnConfig
from .chunking import ChunkingConfig
from .corpus import Document, read_corpus
from .errors import DuplicateIdError, IndexBusyError, IndexCorruptError, IndexMismatchError, IndexNotFoundError
from .funnel import FunnelConfig
from .hits import Hit
from .local_index import SEARCH_MODES, Index
from .retrieval import Retriever
from .spec import IndexSpec

__all__ = ["AnnConfig", "ChunkingConfig", "Document", "DuplicateIdError", "FunnelConfig", "Hit", "Index",
           "IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError", "IndexSpec",
           "Retriever", "SEARCH_MODES", "read_corpus"]
