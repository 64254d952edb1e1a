"""BEIR loading: text joining, split filtering, counts, and bad input reported with file:line."""

from __future__ import annotations

import pytest

from q3embed.errors import InputFileError
from q3embed.eval import load_beir
from q3embed.eval.beir import load_beir_with_stats


def test_load_beir_joins_title_and_keeps_only_the_split(toy_beir):
    corpus, queries, qrels = load_beir(toy_beir)
    assert corpus["d1"] == "Beijing Beijing is the capital of China."
    assert corpus["d3"] == "Gravity pulls objects toward each other."  # empty title: no leading space
    assert set(queries) == {"q1", "q2", "q3"}  # q9 is not judged in test
    assert qrels["q2"] == {"d2": 2, "d5": 0}


def test_stats_count_what_was_left_out(toy_beir):
    *_, stats = load_beir_with_stats(toy_beir)
    assert (stats.queries_not_in_split, stats.qrels, stats.qrels_nonrelevant) == (1, 4, 1)
    assert "1 queries not in this split (skipped)" in stats.summary()


def _append_qrels(root, line):
    with open(root / "qrels" / "test.tsv", "a") as f:
        f.write(line + "\n")


@pytest.mark.parametrize("line, message", [
    ("q1\td1", r"test\.tsv:6: expected"),
    ("q1\td1\tyes", r"test\.tsv:6: relevance 'yes' is not an integer"),
    ("q404\td1\t1", r"test\.tsv:6: query id 'q404' is not in queries\.jsonl"),
    ("q1\td404\t1", r"test\.tsv:6: corpus id 'd404' is not in corpus\.jsonl"),
])
def test_bad_qrels_lines_name_file_and_line(toy_beir, line, message):
    _append_qrels(toy_beir, line)
    with pytest.raises(InputFileError, match=message):
        load_beir(toy_beir)


def test_bad_corpus_line_and_missing_split(toy_beir):
    with pytest.raises(InputFileError, match="splits available: test"):
        load_beir(toy_beir, split="dev")
    with open(toy_beir / "corpus.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(InputFileError, match=r"corpus\.jsonl:6: invalid JSON"):
        load_beir(toy_beir)


def test_duplicate_qrels_are_counted(toy_beir):
    _append_qrels(toy_beir, "q1\td1\t2")
    _, _, qrels, stats = load_beir_with_stats(toy_beir)
    assert qrels["q1"]["d1"] == 2 and stats.duplicate_qrels == 1


def test_real_scifact_counts(scifact_dir):
    corpus, queries, qrels, stats = load_beir_with_stats(scifact_dir, "test")
    assert (len(corpus), len(queries), sum(map(len, qrels.values()))) == (5183, 300, 339)
    assert stats.queries_not_in_split == 809
