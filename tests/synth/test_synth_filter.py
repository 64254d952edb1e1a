"""The cosine filter: counts on real pairs with MiniLM, positive pruning, instruction use, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth_helpers import read_jsonl

from q3embed.cli import main
from q3embed.errors import InputFileError
from q3embed.synth.filter import (cosine_filter, fitted_threshold, pair_scores, percentile_threshold, read_pairs,
                                  select_pairs, text_histogram)

RELATED = [
    ("how does green tea differ from black tea", "Green tea is less oxidised than black tea and keeps more catechins."),
    ("what causes volcanic eruptions", "Volcanic eruptions are driven by magma pressure and dissolved gases."),
    ("symptoms of type 1 diabetes", "Type 1 diabetes often presents with thirst, frequent urination and weight loss."),
]
UNRELATED = [
    ("best pizza toppings", "The mitochondria is the powerhouse of the cell."),
    ("stock market crash 1929", "Photosynthesis converts light into chemical energy."),
    ("how to tune a guitar", "Penguins live mostly in the southern hemisphere."),
]


def records():
    recs = [{"query": q, "pos": d, "instruction": "Given a question, retrieve passages"} for q, d in RELATED + UNRELATED]
    # a list of positives: the unrelated one is pruned, the record stays
    recs.append({"query": RELATED[0][0], "pos": [UNRELATED[0][1], RELATED[0][1]], "neg": ["x"], "key": "k"})
    return recs


@pytest.fixture(scope="module")
def minilm_scores(minilm_embedder):
    return pair_scores(minilm_embedder, records())


def test_minilm_keeps_related_drops_unrelated(minilm_embedder, minilm_scores):
    result = select_pairs(records(), minilm_scores, threshold=0.7)
    assert np.array_equal(cosine_filter(minilm_embedder, records()).scores, minilm_scores)
    assert result.n_records == 7 and result.n_kept == 4 and result.n_dropped == 3
    assert result.scores.shape == (8,) and result.pairs_kept == 4
    assert [r["query"] for r in result.kept] == [q for q, _ in RELATED] + [RELATED[0][0]]
    last = result.kept[-1]
    assert last["pos"] == [RELATED[0][1]] and last["neg"] == ["x"] and last["key"] == "k"
    # one cosine per kept positive; the dropped positive's score is kept apart
    assert len(last["filter"]["cosine"]) == 1 and last["filter"]["cosine"][0] > 0.7
    assert len(last["filter"]["dropped_cosine"]) == 1 and last["filter"]["dropped_cosine"][0] <= 0.7
    assert last["filter"]["threshold"] == 0.7
    # scores are true cosines of the normalised embeddings, one per (query, positive)
    q = minilm_embedder.encode([RELATED[1][0]])
    d = minilm_embedder.encode([RELATED[1][1]])
    assert result.scores[1] == pytest.approx((q @ d.T).item(), abs=1e-5)


def test_threshold_moves_counts(minilm_scores):
    assert select_pairs(records(), minilm_scores, threshold=-1.0).n_kept == 7
    assert select_pairs(records(), minilm_scores, threshold=0.99).n_kept == 0
    with pytest.raises(ValueError, match="threshold"):
        select_pairs(records(), minilm_scores, threshold=1.5)


def test_qwen3_queries_are_embedded_with_their_instruction(tiny_embedder):
    recs = [{"query": "q one", "pos": "doc one", "instruction": "Find papers"},
            {"query": "q two", "pos": "doc two", "instruction": "Find laws"}]
    scores = pair_scores(tiny_embedder, recs)
    for i, r in enumerate(recs):
        q = tiny_embedder.encode([r["query"]], instruction=r["instruction"])
        d = tiny_embedder.encode([r["pos"]])
        assert scores[i] == pytest.approx((q @ d.T).item(), abs=1e-5)
    assert not np.allclose(pair_scores(tiny_embedder, recs, use_instruction=False), scores)


def test_text_histogram_counts_every_score():
    scores = np.array([-0.5, 0.1, 0.72, 0.75, 0.95, 1.0], dtype=np.float32)
    text = text_histogram(scores, 0.7, bins=12)
    rows = text.splitlines()
    assert len(rows) == 12 and sum(int(r.split()[-1]) for r in rows) == 6
    assert rows[0].startswith("-0.20..-0.10") and rows[0].endswith(" 1")  # below range is clipped in
    assert all(" * " in r for r in rows[9:]) and not any(" * " in r for r in rows[:9])


def test_read_pairs_rejects_bad_records(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"query": "q", "pos": []}\n')
    with pytest.raises(InputFileError, match=r"p.jsonl:1: 'pos' is empty"):
        read_pairs(p)
    p.write_text("\n")
    with pytest.raises(InputFileError, match="no training rows"):
        read_pairs(p)


def test_filter_cli(tiny_embedding_dir, tmp_path, capsys):
    # The tiny random model's cosines are arbitrary: threshold -1 pins the counts.
    src, out, png = tmp_path / "pairs.jsonl", tmp_path / "kept.jsonl", tmp_path / "hist.png"
    src.write_text("".join(json.dumps(r) + "\n" for r in records()))
    base = ["filter", "--model", str(tiny_embedding_dir), "--device", "cpu", "--in", str(src), "--out", str(out)]
    assert main([*base, "--threshold", "-1", "--png", str(png)]) == 0
    err = capsys.readouterr().err
    assert "kept 7 / dropped 0 of 7 records (8 of 8 pairs) at cosine > -1.0" in err
    assert len(read_jsonl(out)) == 7 and png.stat().st_size > 1000
    assert main(["filter", "--model", str(tiny_embedding_dir), "--in", str(tmp_path / "none.jsonl"), "--out", str(out)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_percentile_threshold_drops_the_lowest_share():
    scores = np.arange(100, dtype=np.float32) / 100  # 0.00 .. 0.99
    t = percentile_threshold(scores, 30)
    assert int((scores > t).sum()) == 70
    assert int((scores > percentile_threshold(scores, 0)).sum()) == 100
    with pytest.raises(ValueError, match="percentile"):
        percentile_threshold(scores, 100)


def test_fitted_threshold_keeps_that_share_of_known_good_pairs():
    good = np.linspace(0.3, 0.8, 200).astype(np.float32)
    t = fitted_threshold(good, 0.9)
    assert int((good > t).sum()) == 180 and 0.3 < t < 0.4
    with pytest.raises(ValueError, match="keep"):
        fitted_threshold(good, 0.0)


def test_filter_cli_calibrated_thresholds(tiny_embedding_dir, tmp_path, capsys):
    src, out = tmp_path / "pairs.jsonl", tmp_path / "kept.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records()))  # 7 records, 8 pairs
    base = ["filter", "--model", str(tiny_embedding_dir), "--device", "cpu", "--in", str(src), "--out", str(out)]
    assert main([*base, "--percentile", "50"]) == 0
    err = capsys.readouterr().err
    assert "(the 50th percentile of these scores)" in err and "(4 of 8 pairs)" in err
    # fitted on the same pairs: keep 75% of them
    assert main([*base, "--fit-on", str(src), "--fit-keep", "0.75"]) == 0
    err = capsys.readouterr().err
    assert "fitted to keep 75%" in err and "(6 of 8 pairs)" in err
    assert main([*base, "--fit-on", str(src), "--fit-keep", "1.5"]) == 1
    assert "--fit-keep must be a fraction" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: the rules are exclusive
        main([*base, "--threshold", "0.5", "--percentile", "50"])
    for rule in ([], ["--threshold", "0.5"]):  # --fit-keep alone would be ignored: refused instead
        assert main([*base, *rule, "--fit-keep", "0.8"]) == 1
        assert "--fit-keep applies to --fit-on GOOD.jsonl" in capsys.readouterr().err
