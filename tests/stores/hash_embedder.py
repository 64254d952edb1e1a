"""A deterministic, model-free embedder for index tests: hashed bag of words, L2-normalised.

Texts that share words get close vectors, so retrieval behaves sensibly; a different ``seed``
is a different "model". Loaded by file path in child processes (tests/ is not a package).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np


class WordTokenizer:
    """Words as tokens, with the offset mapping ``chunk_text`` reads from a fast tokenizer."""

    def __call__(self, text, add_special_tokens=False, return_offsets_mapping=False, **kw):
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
        return {"input_ids": list(range(len(spans))), "offset_mapping": spans}


class HashEmbedder:
    def __init__(self, width: int = 64, seed: int = 0, name: str = "hash-embedder", words: bool = False):
        self.width = width
        self.seed = seed
        self.name = name
        self.tokenizer = WordTokenizer() if words else None  # words=True: chunking by whitespace words

    def check_dim(self, dim):
        if dim is None:
            return self.width
        if not 1 <= dim <= self.width:
            raise ValueError(f"dim must be in 1..{self.width}, got {dim}")
        return int(dim)

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.width, np.float32)
        for word in re.findall(r"\w+", text.lower()):
            h = hashlib.sha1(f"{self.seed}:{word}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(h[:8], "little"))
            v += rng.standard_normal(self.width).astype(np.float32)
        return v if v.any() else np.ones(self.width, np.float32)

    def encode(self, texts, instruction=None, dim=None, **kw) -> np.ndarray:
        m = np.stack([self._vector(t) for t in texts])[:, : self.check_dim(dim)]  # (N, dim)
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    def encode_documents(self, texts, **kw) -> np.ndarray:
        return self.encode(texts, **kw)

    def encode_queries(self, texts, instruction=None, **kw) -> np.ndarray:
        return self.encode(texts, **kw)
