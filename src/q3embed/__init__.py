"""q3embed: the Qwen3 Embedding system end to end."""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public names -> the submodule that defines them. Imported lazily so that `import q3embed`
# and `q3embed --help` stay fast and torch-free.
_LAZY = {
    "Embedder": "engine",
    "Reranker": "engine",
    "Index": "stores",
    "Retriever": "stores",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'q3embed' has no attribute {name!r}")
