"""On-disk embedding cache: a second run, another metric or another split does not re-encode.

Layout: ``{cache_dir}/{model key}/{dim}-{instruction hash}/shard-*.npz``; each shard holds the
SHA-1 of every text it covers and the vectors, so a corpus that grows or shrinks reuses what
it can. The model key names the checkpoint and fingerprints its weight files (size, mtime),
max length and dtype: retraining into the same directory gives a new key, not stale vectors.

The cache fills as it goes: texts are embedded in steps, and a shard is written at least every
``FLUSH_SECONDS`` (and every ``FLUSH_TEXTS``), so an eval killed after ten minutes keeps about ten
minutes of vectors and the rerun embeds only the rest.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

#: texts per call into the embedder: small enough for steady progress, large enough to batch well
STEP_TEXTS = 256
#: write a shard at least this often while embedding, so a kill loses at most this much work
FLUSH_SECONDS = 30.0
#: ... and after this many texts whatever the time, to bound the memory held unsaved
FLUSH_TEXTS = 8192


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

    def encode(self, texts: Sequence[str], encode_fn: Callable[[list[str]], np.ndarray], *,
               show_progress: bool = False, desc: str = "embedding", step: int = STEP_TEXTS,
               flush_seconds: float = FLUSH_SECONDS) -> tuple[np.ndarray, int]:
        """Vectors for ``texts`` (N, d); only uncached texts go through ``encode_fn``.

        Uncached texts are embedded ``step`` at a time and saved every ``flush_seconds`` (and at the
        end), so an interruption keeps what was embedded. Returns (vectors, number encoded now).
        """
        from ..progress import tqdm

        known = self._load()
        hashes = [text_hash(t) for t in texts]
        missing: dict[bytes, str] = {}
        for h, t in zip(hashes, texts):
            if h not in known and h not in missing:
                missing[h] = t
        todo = list(missing.items())
        pending_h: list[bytes] = []
        pending_v: list[np.ndarray] = []
        last_flush = time.monotonic()
        try:
            with tqdm(total=len(todo), desc=desc, unit="text", disable=not (show_progress and todo)) as bar:
                for a in range(0, len(todo), step):
                    part = todo[a: a + step]
                    new = np.asarray(encode_fn([t for _, t in part]), dtype=np.float32)  # (m, d)
                    pending_h.extend(h for h, _ in part)
                    pending_v.append(new)
                    known.update(zip((h for h, _ in part), new))
                    bar.update(len(part))
                    if time.monotonic() - last_flush >= flush_seconds or len(pending_h) >= FLUSH_TEXTS:
                        self._write_shard(pending_h, np.concatenate(pending_v))
                        pending_h, pending_v, last_flush = [], [], time.monotonic()
        finally:  # interrupted or not, what was embedded is saved
            if pending_h:
                self._write_shard(pending_h, np.concatenate(pending_v))
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

    def encode(batch: list[str], show_progress: bool = False) -> np.ndarray:
        kw = dict(dim=dim, batch_size=batch_size, show_progress=show_progress)
        if query and hasattr(embedder, "encode_queries"):
            return embedder.encode_queries(batch, instruction=instruction, **kw)
        return embedder.encode(batch, instruction=instruction, **kw)

    key = model_key(embedder) if cache_dir is not None else None
    if key is None:
        return np.asarray(encode(texts, show_progress), dtype=np.float32)
    if query and instruction is None:
        instruction_key = "<model default query instruction>"
    else:
        instruction_key = instruction
    cache = EmbeddingCache(cache_dir, key, dim, instruction_key)
    vectors, _ = cache.encode(texts, encode, show_progress=show_progress,
                              desc="embedding queries" if query else "embedding")
    return vectors
