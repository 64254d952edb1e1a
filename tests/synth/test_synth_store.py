"""Append-only keyed output: dedup on normalised text, torn-tail repair, resume bookkeeping."""

from __future__ import annotations

import json

import pytest
from synth_helpers import read_jsonl

from q3embed.errors import InputFileError
from q3embed.synth.store import PairStore, normalise


def rec(key: str, query: str) -> dict:
    return {"key": key, "query": query, "pos": ["d"], "instruction": "i"}


def test_normalise_folds_case_width_punctuation_and_space():
    assert normalise("  What IS  tea?! ") == "what is tea"
    assert normalise("ＷＨＡＴ　is tea") == "what is tea"  # full-width letters and space (NFKC)
    assert normalise("e-mail") == normalise("e mail")
    assert normalise("Straße") == normalise("STRASSE")


def test_dedup_and_keys(tmp_path):
    with PairStore(tmp_path / "o.jsonl") as s:
        assert s.add(rec("a", "What is tea?"))
        assert not s.add(rec("b", "what is TEA"))   # duplicate text, new key
        assert not s.add(rec("a", "another"))       # same key again
        assert s.is_done("a") and s.is_done("b") and not s.is_done("c")
    assert [r["key"] for r in read_jsonl(tmp_path / "o.jsonl")] == ["a"]
    assert read_jsonl(tmp_path / "o.jsonl.skipped") == [{"key": "b", "reason": "duplicate"}]


def test_reopen_restores_done_keys_and_seen_texts(tmp_path):
    with PairStore(tmp_path / "o.jsonl") as s:
        s.add(rec("a", "q one"))
        s.add(rec("b", "Q ONE"))
    with PairStore(tmp_path / "o.jsonl") as s:
        assert s.n_records == 1 and s.is_done("a") and s.is_done("b")
        assert not s.add(rec("c", "q-one"))
        assert s.add(rec("d", "q two"))
    assert [r["key"] for r in read_jsonl(tmp_path / "o.jsonl")] == ["a", "d"]


def test_torn_last_line_is_cut_and_its_job_redone(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text(json.dumps(rec("a", "q1")) + "\n" + json.dumps(rec("b", "q2"))[:17])
    with PairStore(path) as s:
        assert s.repaired_bytes == 17 and s.n_records == 1
        assert s.is_done("a") and not s.is_done("b")
        assert s.add(rec("b", "q2"))
    assert [r["key"] for r in read_jsonl(path)] == ["a", "b"]


def test_corrupt_middle_line_or_foreign_file_is_an_error(tmp_path):
    path = tmp_path / "o.jsonl"
    path.write_text('{"key": "a", "query": "q"}\nnot json\n{"key": "b", "query": "r"}\n')
    with pytest.raises(InputFileError, match=r"o.jsonl:2: invalid JSON.*rerun to resume"):
        PairStore(path)
    path.write_text('{"text": "a corpus line"}\n')
    with pytest.raises(InputFileError, match="lacks 'key'/'query'"):
        PairStore(path)
