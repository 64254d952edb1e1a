"""Evaluation datasets: a hand-written toy BEIR folder, the sets shipped in tests/data_files and slices of
them, and the full sets (read from $Q3EMBED_DATA or data/, see eval_data.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from eval_data import SCIFACT_SUBSAMPLE_DIR, STSB_TEST, full_data, scifact_subsample, write_beir

TOY_CORPUS = {
    "d1": ("Beijing", "Beijing is the capital of China."),
    "d2": ("Paris", "Paris is the capital and largest city of France."),
    "d3": ("", "Gravity pulls objects toward each other."),
    "d4": ("Photosynthesis", "Plants turn light, water and carbon dioxide into sugar."),
    "d5": ("Berlin", "Berlin is the capital of Germany."),
}
TOY_QUERIES = {"q1": "What is the capital of China?", "q2": "capital of France", "q3": "How do plants make food?",
               "q9": "an unjudged training query"}
TOY_QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d5", 0), ("q3", "d4", 1)]


@pytest.fixture
def toy_beir(tmp_path) -> Path:
    return write_beir(tmp_path / "toy", TOY_CORPUS, TOY_QUERIES, TOY_QRELS)


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    """Full SciFact (5,183 abstracts): skips without the data, fails under CI."""
    return full_data("scifact")


@pytest.fixture(scope="session")
def stsb_test() -> Path:
    return STSB_TEST


@pytest.fixture(scope="session")
def scifact_mini(tmp_path_factory) -> Path:
    """12 SciFact test queries, their relevant abstracts and 28 others (from the shipped subsample); texts cut
    to 300 chars for speed."""
    return scifact_subsample(SCIFACT_SUBSAMPLE_DIR, tmp_path_factory.mktemp("scifact_mini"), 12, 28, text_chars=300)


@pytest.fixture(scope="session")
def stsb_mini(tmp_path_factory, stsb_test) -> Path:
    """The first 40 STSBenchmark test pairs."""
    out = tmp_path_factory.mktemp("stsb_mini") / "stsb-mini.csv"
    with open(stsb_test, newline="") as f, open(out, "w", newline="") as g:
        w = csv.writer(g)
        for i, row in enumerate(csv.reader(f)):
            if i == 40:
                break
            w.writerow(row)
    return out
