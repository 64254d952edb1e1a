"""Small corpora for the Ray tests: real SciFact records, in one file or in shards."""

from __future__ import annotations

import json

SCIFACT = "/work/shared/data/scifact/corpus.jsonl"


def corpus_records(n: int, offset: int = 0) -> list[dict]:
    """``n`` SciFact records when the data is here, else generated ones (same shape: _id, title, text)."""
    from pathlib import Path

    if Path(SCIFACT).exists():
        with open(SCIFACT, encoding="utf-8") as f:
            lines = [json.loads(line) for _, line in zip(range(offset + n), f)]
        return lines[offset:]
    return [{"_id": f"d{i}", "title": f"Title {i}", "text": f"Document {i} is about topic {i % 7} and {i * 13 % 11}."}
            for i in range(offset, offset + n)]


def write_shards(folder, records: list[dict], shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with open(folder / f"shard-{s:03d}.jsonl", "w", encoding="utf-8") as f:
            for r in records[s::shards]:
                f.write(json.dumps(r) + "\n")
