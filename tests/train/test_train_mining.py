"""Hard-negative mining: rank window, never a positive, reranker filter, and the ``mine`` verb."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from q3embed.cli import main
from q3embed.train.mining import MiningConfig, parse_rank_range, sample_negatives, top_ranked


def test_top_ranked_orders_best_first():
    rng = np.random.default_rng(0)
    q, d = rng.normal(size=(3, 8)), rng.normal(size=(50, 8))
    got = top_ranked(q, d, 10, chunk=2)
    want = np.argsort(-(q @ d.T), axis=1)[:, :10]
    np.testing.assert_array_equal(got, want)


def test_sample_window_excludes_positives_and_respects_ranks():
    ranked = [f"d{i}" for i in range(1, 101)]  # rank r holds "d{r}"
    cfg = MiningConfig(rank_start=10, rank_end=20, num_negatives=7)
    for seed in range(20):
        negs = sample_negatives(ranked, {"d12", "d15"}, cfg, random.Random(seed))
        assert len(negs) == 7 and len(set(negs)) == 7
        assert all(10 <= int(n[1:]) <= 20 for n in negs) and not {"d12", "d15"} & set(negs)


def test_reranker_filter_drops_likely_false_negatives():
    ranked = [f"d{i}" for i in range(1, 31)]
    cfg = MiningConfig(rank_start=1, rank_end=30, num_negatives=5, max_score=0.5)
    suspicious = {"d2", "d3", "d4", "d5", "d6", "d7"}
    negs = sample_negatives(ranked, set(), cfg, random.Random(0), reject=lambda c: [d in suspicious for d in c])
    assert len(negs) == 5 and not suspicious & set(negs)


def test_config_errors():
    with pytest.raises(ValueError, match="START-END"):
        parse_rank_range("10")
    with pytest.raises(ValueError, match="start <= end"):
        MiningConfig(rank_start=50, rank_end=10)
    with pytest.raises(ValueError, match="max_score"):
        MiningConfig(max_score=3.0)


@pytest.mark.parametrize("flags, message", [
    (["--max-score", "3", "--reranker", "r"], "--max-score must be in [0, 1], got 3.0"),
    (["--range", "0-5"], "--range start must be >= 1, got 0"),
])
def test_cli_config_errors_name_the_flag(tmp_path, capsys, flags, message):
    from q3embed.cli import main

    args = ["mine", "--model", "m", "--corpus", "c", "--queries", "q", "--qrels", "r", "--out", str(tmp_path / "o.jsonl")]
    assert main([*args, *flags]) == 1  # before any file is read or model loaded
    assert capsys.readouterr().err == f"q3embed mine: error: {message}\n"


@pytest.fixture(scope="module")
def beir_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("beir")
    (root / "qrels").mkdir()
    docs = [{"_id": f"d{i}", "title": f"Doc {i}", "text": f"text number {i} about topic {i % 5}"} for i in range(40)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": f"q{i}", "text": f"what about topic {i % 5}, item {i}?"} for i in range(6)]
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(5))  # q5 unjudged
    (root / "qrels" / "train.tsv").write_text(qrels)
    return root


def test_mine_cli_writes_training_rows(tmp_path, beir_dir, tiny_embedding_dir):
    out = tmp_path / "mined.jsonl"
    rc = main(["mine", "--model", str(tiny_embedding_dir), "--corpus", str(beir_dir / "corpus.jsonl"),
               "--queries", str(beir_dir / "queries.jsonl"), "--qrels", str(beir_dir / "qrels" / "train.tsv"),
               "--out", str(out), "--range", "2-20", "--num-neg", "4"])
    assert rc == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 5
    corpus = {json.loads(x)["_id"]: json.loads(x) for x in (beir_dir / "corpus.jsonl").read_text().splitlines()}
    for i, row in enumerate(rows):
        assert row["pos"] == [f"Doc {i} text number {i} about topic {i % 5}"]
        assert len(row["neg"]) == 4 and f"d{i}" not in row["neg_ids"]
        assert row["neg"] == [f"{corpus[d]['title']} {corpus[d]['text']}" for d in row["neg_ids"]]
        assert row["instruction"]  # a Qwen3 model: the query instruction travels with the row
    # the rows train directly
    from q3embed.train.data import read_train_file

    assert len(read_train_file(out)) == 5


def test_mine_cli_rejects_half_a_reranker_filter(tmp_path, beir_dir, tiny_embedding_dir, capsys):
    rc = main(["mine", "--model", str(tiny_embedding_dir), "--corpus", str(beir_dir / "corpus.jsonl"),
               "--queries", str(beir_dir / "queries.jsonl"), "--qrels", str(beir_dir / "qrels" / "train.tsv"),
               "--out", str(tmp_path / "x.jsonl"), "--max-score", "0.9"])
    assert rc == 1 and "--reranker and --max-score" in capsys.readouterr().err
