from .embedder import Embedder
from .reranker import Reranker

__all__ = ["Embedder", "Reranker"]
