"""On-disk embedding cache: a second run, another metric or another split does not re-encode.

Layout: ``{cache_dir}/{model key}/{dim}-{instruction hash}/shard-*.npz``; each shard holds the
SHA-1 of every text it covers and the vectors, so a corpus that grows or shrinks reuses what
it can. The model key names the checkpoint and fingerprints its weight files (size, mtime),
max length and dtype: retraining into the same directory gives a new key, not stale vectors.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np


def text_hash(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


def model_key(embedder) -> str | None:
    """A directory-safe name that changes whenever the vectors could change; None if unknowable."""
    layout = getattr(embedder, "layout", None)
    root = getattr(layout, "root", None)
    if root is None:
        return None
    root = Path(root)
    parts = [str(root.resolve()), str(getattr(embedder, "max_length", "")), str(getattr(embedder, "dtype", "")),
             str(getattr(layout, "pooling", ""))]
    model = getattr(embedder, "model", None)
    if model is not None:
        from ..runtime.quantize import quantization_of

        parts.append(f"quantize={quantization_of(model)}")  # int8 vectors differ from the fp32 ones of equal dtype
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in (".safetensors", ".bin", ".pt", ".json"):
            st = f.stat()
            parts.append(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}")
    digest = hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", root.name)[:48] or "model"
    return f"{slug}-{digest}"


class EmbeddingCache:
    """Vectors of one model at one (dim, instruction), keyed by text hash."""

    def __init__(self, cache_dir: str | Path, key: str, dim: int | None, instruction: str | None):
        instr = "none" if instruction is None else hashlib.sha1(instruction.encode()).hexdigest()[:12]
        self.dir = Path(cache_dir) / key / f"dim{dim or 'full'}-{instr}"
        self._vectors: dict[bytes, np.ndarray] | None = None

    def _load(self) -> dict[bytes, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for shard in sorted(self.dir.glob("shard-*.npz")):
                with np.load(shard) as z:
                    for h, v in zip(z["hashes"], z["vectors"]):
                        self._vectors[bytes(h)] = v
        return self._vectors

    def __len__(self) -> int:
        return len(self._load())

    def encode(self, texts: Sequence[str], encode_fn: Callable[[list[str]], np.ndarray]) -> tuple[np.ndarray, int]:
        """Vectors for ``texts`` (N, d); only uncached texts go through ``encode_fn``.

        Returns (vectors, number of texts encoded now).
        """
        known = self._load()
        hashes = [text_hash(t) for t in texts]
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts):
            if h not in known and h not in missing:
                missing[h] = t
        if missing:
            new = np.asarray(encode_fn(list(missing.values())), dtype=np.float32)  # (M, d)
            self._write_shard(list(missing), new)
            known.update(zip(missing, new))
        if not hashes:
            return np.zeros((0, 0), dtype=np.float32), 0
        return np.stack([known[h] for h in hashes]), len(missing)

    def _write_shard(self, hashes: list[bytes], vectors: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"shard-{uuid.uuid4().hex[:12]}"
        tmp = self.dir / f".{name}.tmp.npz"
        # write then rename: a crash mid-write never leaves a truncated shard behind
        np.savez(tmp, hashes=np.array(hashes, dtype="S20"), vectors=vectors)
        os.replace(tmp, self.dir / f"{name}.npz")


def encode_cached(embedder, texts: Sequence[str], *, instruction: str | None = None, dim: int | None = None,
                  batch_size: int = 32, cache_dir: str | Path | None = None, show_progress: bool = False,
                  query: bool = False) -> np.ndarray:
    """Embed ``texts`` through the cache when ``cache_dir`` is set and the model is identifiable.

    ``query=True`` embeds with ``encode_queries`` (the model's default instruction when
    ``instruction`` is None); otherwise texts are embedded as given, with ``instruction`` if any.
    """
    texts = list(texts)

    def encode(batch: list[str]) -> np.ndarray:
        kw = dict(dim=dim, batch_size=batch_size, show_progress=show_progress)
        if query and hasattr(embedder, "encode_queries"):
            return embedder.encode_queries(batch, instruction=instruction, **kw)
        return embedder.encode(batch, instruction=instruction, **kw)

    key = model_key(embedder) if cache_dir is not None else None
    if key is None:
        return np.asarray(encode(texts), dtype=np.float32)
    if query and instruction is None:
        instruction_key = "<model default query instruction>"
    else:
        instruction_key = instruction
    cache = EmbeddingCache(cache_dir, key, dim, instruction_key)
    vectors, _ = cache.encode(texts, encode)
    return vectors
