"""STS: pair files, correlations, and MiniLM on a slice of STSBenchmark."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from q3embed.errors import InputFileError
from q3embed.eval import evaluate_sts
from q3embed.eval.sts import load_sts_pairs, paired_cosine


def test_pairs_from_csv_with_header_quotes_and_jsonl(tmp_path):
    csv_file = tmp_path / "p.csv"
    csv_file.write_text('sentence1,sentence2,score\n"A, b",c,4.5\nd,e,1\n')
    s1, s2, gold = load_sts_pairs(csv_file)
    assert s1 == ["A, b", "d"] and s2 == ["c", "e"] and gold.tolist() == [4.5, 1.0]
    jl = tmp_path / "p.jsonl"
    jl.write_text("\n".join(json.dumps({"sentence1": a, "sentence2": b, "score": s}) for a, b, s in
                            [("x", "y", 1), ("z", "w", 2)]))
    assert load_sts_pairs(jl)[2].tolist() == [1.0, 2.0]


def test_bad_pair_rows_name_the_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,1\nc,d,high\n")
    with pytest.raises(InputFileError, match=r"bad\.csv:2: score 'high'"):
        load_sts_pairs(bad)
    bad.write_text("a,b,1\nc,d\n")
    with pytest.raises(InputFileError, match=r"bad\.csv:2: expected 3 fields"):
        load_sts_pairs(bad)


def test_paired_cosine():
    a = np.array([[1, 0], [1, 1]], dtype=np.float32)
    b = np.array([[0, 2], [2, 2]], dtype=np.float32)
    assert paired_cosine(a, b) == pytest.approx([0.0, 1.0])


def test_minilm_on_stsb_slice(minilm_embedder, stsb_mini):
    res = evaluate_sts(minilm_embedder, stsb_mini)
    s1, s2, gold = load_sts_pairs(stsb_mini)
    a, b = minilm_embedder.encode(s1), minilm_embedder.encode(s2)
    expect = spearmanr((a * b).sum(1), gold).statistic
    assert res["main_score"] == pytest.approx(expect, abs=1e-6)
    assert res["num_pairs"] == 40 and res["main_metric"] == "cosine_spearman"
    assert res["main_score"] > 0.8
