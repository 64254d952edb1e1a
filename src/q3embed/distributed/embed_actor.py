"""The Ray Data callable class: one Embedder per actor, loaded once, embedding batches of corpus records."""

from __future__ import annotations

import json
import math

import numpy as np

from ..stores.chunking import ChunkingConfig, chunk_text
from ..data.corpus import read_corpus

# Columns of every output batch. One row per chunk; ``chunks`` is the document's chunk count, so the
# driver can tell when a document is whole and never commits part of one.
OUTPUT_COLUMNS = ("id", "chunk", "chunks", "start", "end", "text", "meta", "vector")


class EmbedRecords:
    """``ds.map_batches(EmbedRecords, fn_constructor_kwargs=..., concurrency=N)``: an actor pool of Embedders."""

    def __init__(self, model: str, dim: int | None, chunking: tuple[int, int], device: str | None,
                 torch_dtype: str | None, max_length: int | None, batch_size: int, threads: int | None,
                 skip_ids: frozenset[str] = frozenset()):
        import torch

        from ..engine import Embedder

        if threads:
            # Ray sets OMP_NUM_THREADS to the actor's CPUs; torch reads it only at import, so say it again.
            torch.set_num_threads(threads)
        self.embedder = Embedder.load(model, device=device, dtype=torch_dtype, max_length=max_length)
        self.dim = self.embedder.check_dim(dim)
        self.chunking = ChunkingConfig(*chunking)
        self.batch_size = batch_size
        self.skip_ids = skip_ids  # documents a killed run already committed

    def __call__(self, batch) -> dict:
        docs = [d for d in records_to_documents(batch.to_dict("records")) if d.id not in self.skip_ids]
        rows = []
        for d in docs:
            pieces = chunk_text(d.text, getattr(self.embedder, "tokenizer", None), self.chunking)
            meta = json.dumps(d.meta, ensure_ascii=False) if d.meta else ""
            rows.extend((d.id, i, len(pieces), c.start, c.end, c.text, meta) for i, c in enumerate(pieces))
        if not rows:
            return empty_output(self.dim)
        vectors = self.embedder.encode_documents([r[5] for r in rows], dim=self.dim, batch_size=self.batch_size)
        out = {name: [r[k] for r in rows] for k, name in enumerate(OUTPUT_COLUMNS[:-1])}
        out["vector"] = vectors  # (rows, dim) float32, L2-normalised at dim
        return out


def records_to_documents(records: list[dict]):
    """Documents from raw corpus records, by the same rules as ``read_corpus`` (BEIR title + text, id or _id).

    Columnar readers fill a record's missing fields with None/NaN; those are dropped first, and records
    with no text are skipped as the JSONL reader skips them.
    """
    clean = [{k: v for k, v in r.items() if not _missing(v)} for r in records]
    clean = [r for r in clean if isinstance(r.get("text"), str) and r["text"].strip()]
    return read_corpus(clean) if clean else []


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, dict) and not value


def empty_output(dim: int) -> dict:
    out = {name: [] for name in OUTPUT_COLUMNS[:-1]}
    out["vector"] = np.zeros((0, dim), np.float32)
    return out
