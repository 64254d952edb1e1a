"""Small corpora for the Ray tests: real SciFact records, in one file or in shards."""

from __future__ import annotations

import json

import numpy as np

from eval_data import SCIFACT_SUBSAMPLE_DIR


def corpus_records(n: int, offset: int = 0) -> list[dict]:
    """``n`` real SciFact records (_id, title, text) from the shipped subsample, starting at ``offset`` and
    wrapping round its 104 abstracts, so distinct offsets give tests different documents."""
    with open(SCIFACT_SUBSAMPLE_DIR / "corpus.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    if n > len(docs):
        raise ValueError(f"corpus_records: at most {len(docs)} records, asked for {n}")
    return [docs[(offset + i) % len(docs)] for i in range(n)]


def write_shards(folder, records: list[dict], shards: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with open(folder / f"shard-{s:03d}.jsonl", "w", encoding="utf-8") as f:
            for r in records[s::shards]:
                f.write(json.dumps(r) + "\n")


def check_against_single_process(index, records: list[dict], embedder) -> None:
    """Every id once, and each stored vector equal (cosine >= 0.99999) to a one-process encode."""
    from q3embed.data import read_corpus

    docs = read_corpus(records)
    rows, stored = index.vectors()  # (n,), (n, dim)
    ids = [index.record(int(r))["id"] for r in rows]
    assert sorted(ids) == sorted(d.id for d in docs)  # each id exactly once
    texts = {d.id: d.text for d in docs}
    assert all(index.record(int(r))["text"] == texts[i] for r, i in zip(rows, ids))
    ref = embedder.encode_documents([texts[i] for i in ids], dim=index.spec.dim)  # (n, dim)
    cos = (ref * stored).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(stored, axis=1))
    assert cos.min() >= 0.99999, f"lowest cosine {cos.min()}"
