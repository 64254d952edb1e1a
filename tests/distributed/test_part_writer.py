"""The driver's part writer: whole documents only, and rows that a re-run Ray batch delivers twice are kept once."""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.distributed.ingest import _PartWriter


def batch(rows):
    """An actor output batch: (id, chunk, chunks) per row, vector = [chunk number, 1]."""
    return {"id": [r[0] for r in rows], "chunk": [r[1] for r in rows], "chunks": [r[2] for r in rows],
            "start": [0] * len(rows), "end": [1] * len(rows), "text": [f"{r[0]}:{r[1]}" for r in rows],
            "meta": [""] * len(rows), "vector": np.array([[r[1], 1.0] for r in rows], np.float32)}


def test_repeated_rows_from_a_rerun_batch_are_written_once():
    parts = []
    writer = _PartWriter(lambda vectors, rows: parts.append((vectors, rows)), part_rows=2)
    writer.take(batch([("a", 0, 1), ("b", 0, 3), ("b", 1, 3)]))
    writer.take(batch([("b", 1, 3), ("b", 0, 3)]))  # a retried batch: b's chunks again, b still not whole
    writer.take(batch([("a", 0, 1), ("b", 2, 3), ("c", 0, 1)]))  # a again, after it was written
    writer.flush(final=True)
    rows = [r for _, part in parts for r in part]
    assert [(r["id"], r["chunk"]) for r in rows] == [("a", 0), ("b", 0), ("b", 1), ("b", 2), ("c", 0)]
    vectors = np.concatenate([v for v, _ in parts])  # (5, 2), in row order
    assert vectors[:, 0].tolist() == [r["chunk"] for r in rows]
    assert writer.documents == 3


def test_a_document_missing_chunks_at_the_end_is_not_written():
    parts = []
    writer = _PartWriter(lambda vectors, rows: parts.append(rows), part_rows=100)
    writer.take(batch([("a", 0, 1), ("b", 0, 2)]))
    with pytest.raises(RuntimeError, match="1 documents arrived with missing chunks"):
        writer.flush(final=True)
    assert [[r["id"] for r in p] for p in parts] == [["a"]]
