"""Bitext mining metrics (MTEB BitextMining semantics) and file handling."""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.errors import InputFileError
from q3embed.eval import evaluate_bitext
from q3embed.eval.bitext import bitext_metrics, nearest_targets, read_aligned_lines


def test_metrics_hand_computed():
    # sources 0,1 correct; sources 2 and 3 both pick target 1; target 2 and 3 never picked
    m = bitext_metrics(np.array([0, 1, 1, 1]))
    # per-label precision: 1, 1/3, 0, 0; recall: 1, 1, 0, 0; f1: 1, 0.5, 0, 0
    assert m["precision"] == pytest.approx((1 + 1 / 3) / 4)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(1.5 / 4)
    assert m["accuracy"] == pytest.approx(0.5)


def test_metrics_match_sklearn_weighted_average():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 30, 30)
    pred[:12] = np.arange(12)
    labels = np.arange(30)
    m = bitext_metrics(pred)
    assert m["f1"] == pytest.approx(sklearn.f1_score(labels, pred, average="weighted", zero_division=0))
    assert m["precision"] == pytest.approx(sklearn.precision_score(labels, pred, average="weighted", zero_division=0))
    assert m["recall"] == pytest.approx(sklearn.recall_score(labels, pred, average="weighted", zero_division=0))


def test_nearest_targets_uses_cosine_not_dot():
    src = np.array([[1.0, 0.0]], dtype=np.float32)
    tgt = np.array([[10.0, 10.0], [0.9, 0.1]], dtype=np.float32)  # the long vector wins on dot product only
    assert nearest_targets(src, tgt).tolist() == [1]


def test_files_must_align(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one\ntwo\n")
    b.write_text("uno\n")
    with pytest.raises(InputFileError, match="line-aligned"):
        read_aligned_lines(a, b)
    b.write_text("uno\n\n")
    with pytest.raises(InputFileError, match=r"b\.txt:2: empty line"):
        read_aligned_lines(a, b)


def test_minilm_mines_paraphrases(minilm_embedder, tmp_path):
    src, tgt = tmp_path / "en.txt", tmp_path / "para.txt"
    src.write_text("The cat sleeps on the sofa.\nStock markets fell sharply today.\nI love hiking in the mountains.\n")
    tgt.write_text("A cat is asleep on the couch.\nShares dropped steeply on Monday.\nMountain hikes are my passion.\n")
    res = evaluate_bitext(minilm_embedder, src, tgt)
    assert res["main_score"] == res["f1"] == 1.0 and res["num_pairs"] == 3
