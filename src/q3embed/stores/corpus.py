"""Kept import path: the corpus type and reader live in ``q3embed.data.corpus``."""

from ..data.corpus import Document, read_corpus

__all__ = ["Document", "read_corpus"]
