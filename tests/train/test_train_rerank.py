"""A tiny Qwen3 reranker learns a toy relevance task; its export loads in ``Reranker``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from q3embed import Reranker
from q3embed.train.config import load_config
from q3embed.train.rerank_trainer import RerankTrainer

SUBJECTS = ["cats", "rain", "music", "chess", "bread", "rivers", "stars", "snow"]


def toy_pairs(offset: int):
    """Relevant documents answer the query's subject; irrelevant ones talk about something else."""
    rows = []
    for i, s in enumerate(SUBJECTS):
        other = SUBJECTS[(i + 3) % len(SUBJECTS)]
        rows.append({"query": f"facts about {s}?", "pos": f"relevant answer: {s} facts {offset + i}",
                     "neg": [f"unrelated text on {other} {offset + i}", f"off topic {other}"]})
    return rows


def accuracy(rr: Reranker, rows) -> float:
    pairs = [(r["query"], r["pos"]) for r in rows] + [(r["query"], n) for r in rows for n in r["neg"]]
    labels = np.array([1] * len(rows) + [0] * (len(pairs) - len(rows)))
    scores = rr.score_pairs(pairs)
    return float(((scores > 0.5) == labels).mean())


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_tiny_reranker_learns_and_exports(tmp_path, tiny_reranker_dir, train_overrides, lora):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in toy_pairs(0) + toy_pairs(100)))
    held_out = toy_pairs(500)
    before = accuracy(Reranker.load(tiny_reranker_dir, device="cpu"), held_out)
    extra = ["lora.enabled=true", "lora.rank=8", "optim.lr=1e-2"] if lora else ["optim.lr=2e-3"]
    cfg = load_config(None, train_overrides(
        tiny_reranker_dir, tmp_path / "out", train, "batch_size=8", "data.num_negatives=1", "data.max_length=128",
        "optim.epochs=6", "optim.warmup_ratio=0", "gradcache_chunk=8", *extra), kind="rerank")
    trainer = RerankTrainer(cfg).setup()
    losses = trainer.train()
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses
    rr = Reranker.load(tmp_path / "out" / "final", device="cpu")
    after = accuracy(rr, held_out)
    assert after >= 0.9 and after > before + 0.2, (before, after)
    # the export is what was trained: same P(yes) from the live model and the reloaded export
    trainer.model.eval()
    import torch

    ids = trainer.rerank_tok([("facts about cats?", "relevant answer: cats")], "Given a web search query, "
                             "retrieve relevant passages that answer the query")
    with torch.no_grad():
        last = trainer.forward_last(ids)
        head = trainer.model.get_output_embeddings().weight
        live = torch.softmax(last @ head[[2152, 9693]].T, -1)[0, 1].item()
    assert rr.score("facts about cats?", ["relevant answer: cats"])[0] == pytest.approx(live, abs=1e-5)


def test_rerank_rejects_embedding_checkpoint(tmp_path, tiny_embedding_dir, toy_train_file, train_overrides):
    from q3embed.train.config import ConfigError

    cfg = load_config(None, train_overrides(tiny_embedding_dir, tmp_path, toy_train_file, "batch_size=4",
                                            "data.max_length=128"), kind="rerank")
    with pytest.raises(ConfigError, match="causal LM"):
        RerankTrainer(cfg).setup()
