"""The data floor: one corpus reader for every caller, one pair schema, one JSONL reader/writer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from q3embed.data import (Document, append_jsonl, l2_normalize, pair_record, read_corpus, read_jsonl,
                          read_pair_records, write_jsonl)
from q3embed.errors import InputFileError


def test_every_package_reads_corpora_through_the_data_layer(tmp_path):
    import q3embed.distributed.embed_actor as embed_actor
    import q3embed.eval.beir as beir
    import q3embed.stores.ingest as store_ingest
    import q3embed.synth.runner as synth_runner

    assert store_ingest.read_corpus is read_corpus and store_ingest.Document is Document
    assert synth_runner.read_corpus is read_corpus and embed_actor.read_corpus is read_corpus
    p = tmp_path / "corpus.jsonl"
    write_jsonl(p, [{"_id": "a", "title": "T", "text": "x "}, {"_id": 7, "text": ""}, {"id": "c", "text": "y"}])
    assert [(d.id, d.text) for d in read_corpus(p)] == [("a", "T x"), ("c", "y")]
    assert [(d.id, d.text) for d in read_corpus(p, min_chars=2)] == [("a", "T x")]
    # BEIR evaluation keeps the empty document: MTEB counts it in the corpus.
    assert beir.read_corpus(p) == {"a": "T x", "7": "", "c": "y"}


def test_txt_file_is_one_passage_per_line(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("first\n\n second \n")
    assert [(d.id, d.text) for d in read_corpus(p)] == [("L1", "first"), ("L3", "second")]


def test_corpus_errors_name_file_and_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"_id": "a", "text": "x"}\n{"_id": "b", "text": "y", "title": 3}\n')
    with pytest.raises(InputFileError, match=r"c.jsonl:2: 'title' must be a string"):
        read_corpus(p)
    with pytest.raises(InputFileError, match=r"unsupported corpus file '\.csv'"):
        read_corpus(tmp_path / _touch(tmp_path / "c.csv"))


def _touch(p):
    p.write_text("x")
    return p.name


@pytest.mark.parametrize("rec", [
    {"query": "q", "pos": "p", "neg": ["n"], "instruction": "i", "key": 1},
    {"anchor": "q", "positive": "p", "negatives": ["n"], "prompt": "i", "key": 1},
    {"query": "q", "response": "p", "rejected_response": ["n"], "instruction": "i", "key": 1},
])
def test_pair_formats_read_as_one_record(tmp_path, rec):
    p = tmp_path / "pairs.jsonl"
    p.write_text(json.dumps(rec) + "\n")
    [(raw, pair)] = read_pair_records(p)
    assert (pair.query, pair.positives, pair.negatives, pair.instruction) == ("q", ("p",), ("n",), "i")
    assert pair_record(raw, pair) == {"query": "q", "pos": ["p"], "neg": ["n"], "instruction": "i", "key": 1}


def test_jsonl_round_trip_and_errors(tmp_path):
    p = tmp_path / "rows.jsonl"
    write_jsonl(p, [{"a": "é"}])
    append_jsonl(p, [{"b": 2}])
    assert read_jsonl(p) == [{"a": "é"}, {"b": 2}]
    assert "é" in p.read_text(encoding="utf-8")
    assert read_jsonl(tmp_path / "none.jsonl", missing_ok=True) == []
    p.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(InputFileError, match=r"rows.jsonl:2: expected a JSON object"):
        read_jsonl(p)


def test_l2_normalize_rows_and_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 0.0]])
