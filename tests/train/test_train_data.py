"""Training rows in three formats, line-numbered errors, and a batch order that a resume can replay."""

from __future__ import annotations

import json

import pytest

from q3embed.errors import InputFileError
from q3embed.train.data import BatchOrder, pick_texts, read_train_file, text_key


def write(tmp_path, *rows):
    f = tmp_path / "rows.jsonl"
    f.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return f


def test_three_formats(tmp_path):
    f = write(tmp_path,
              {"query": "q1", "pos": "p1", "neg": ["n1"], "instruction": "find"},  # q3embed
              {"query": "q2", "pos": ["p2", "p2b"], "neg": ["n2"], "prompt": "retrieve"},  # FlagEmbedding
              {"query": "q3", "response": "p3", "rejected_response": ["n3", "n3b"]},  # ms-swift
              "",
              {"query": "q4", "pos": "p4"})
    rows = read_train_file(f)
    assert [r.query for r in rows] == ["q1", "q2", "q3", "q4"]
    assert rows[0].positives == ("p1",) and rows[0].instruction == "find"
    assert rows[1].positives == ("p2", "p2b") and rows[1].instruction == "retrieve"
    assert rows[2].positives == ("p3",) and rows[2].negatives == ("n3", "n3b")
    assert rows[3].negatives == ()


@pytest.mark.parametrize("bad, words", [
    ("{not json", ["rows.jsonl:2", "invalid JSON"]),
    ('{"pos": "x"}', ["rows.jsonl:2", "query"]),
    ('{"query": "q"}', ["rows.jsonl:2", "positive"]),
    ('{"query": "q", "pos": [1]}', ["rows.jsonl:2", "'pos' must be a string or a list"]),
    ('{"query": "q", "pos": "p", "neg": "n", "instruction": 3}', ["rows.jsonl:2", "'instruction' must be a string"]),
    ('[1, 2]', ["rows.jsonl:2", "JSON object"]),
])
def test_malformed_line_reported_with_number(tmp_path, bad, words):
    f = write(tmp_path, {"query": "ok", "pos": "ok"}, bad)
    with pytest.raises(InputFileError) as e:
        read_train_file(f)
    for w in words:
        assert w in str(e.value)


def test_batch_order_is_a_function_of_step():
    a, b = BatchOrder(10, 3, seed=1), BatchOrder(10, 3, seed=1)
    assert a.steps_per_epoch == 3
    assert [a.rows(s) for s in range(7)] == [b.rows(s) for s in range(7)]
    epoch0 = [i for s in range(3) for i in a.rows(s)[1]]
    assert len(set(epoch0)) == 9  # no row twice within an epoch
    assert a.rows(3)[0] == 1 and a.rows(3)[1] != a.rows(0)[1]
    with pytest.raises(ValueError, match="larger than"):
        BatchOrder(2, 3, seed=0)


def test_pick_texts_deterministic_and_never_mixes_roles(tmp_path):
    rows = read_train_file(write(tmp_path, {"query": "q", "pos": ["p1", "p2"], "neg": ["n1", "n2", "n3"]}))
    picks = [pick_texts(rows[0], 2, 0, e, 0) for e in range(20)]
    assert picks == [pick_texts(rows[0], 2, 0, e, 0) for e in range(20)]
    for pos, negs in picks:
        assert pos in ("p1", "p2") and len(negs) == 2 and len(set(negs)) == 2 and set(negs) <= {"n1", "n2", "n3"}
    assert {p for p, _ in picks} == {"p1", "p2"}  # several positives get used across epochs
    pos, negs = pick_texts(rows[0], 5, 0, 0, 0)  # more asked than available: cycled
    assert len(negs) == 5 and set(negs) == {"n1", "n2", "n3"}


def test_text_key_stable_and_non_negative():
    assert text_key("abc") == text_key("abc") != text_key("abd")
    assert text_key("x") >= 0
