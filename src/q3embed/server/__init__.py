"""HTTP serving: OpenAI-compatible embeddings, Cohere/Jina-compatible rerank, retrieval.

Importing this package needs the ``serve`` extra (fastapi, uvicorn).
"""

from .app import create_app
from .settings import ServerSettings

__all__ = ["create_app", "ServerSettings"]
