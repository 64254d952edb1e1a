import json

import pytest

from q3embed.errors import InputFileError
from q3embed.data import Document, read_corpus


def test_beir_corpus_joins_title_and_text(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text(json.dumps({"_id": "7", "title": "Title", "text": "Body. "}) + "\n"
                 + json.dumps({"_id": "8", "title": "", "text": "Only body"}) + "\n")
    docs = read_corpus(p)
    assert [(d.id, d.text) for d in docs] == [("7", "Title Body."), ("8", "Only body")]


def test_id_text_jsonl_keeps_other_fields_as_meta(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": 3, "text": "hello", "url": "u"}\n\n{"id": "x", "text": "world"}\n')
    docs = read_corpus(p)
    assert docs[0] == Document("3", "hello", {"url": "u"})
    assert docs[1].id == "x"


def test_folder_of_txt_and_md(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub" / "b.md").write_text("# beta\n")
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    docs = read_corpus(tmp_path)
    assert [(d.id, d.text) for d in docs] == [("a.txt", "alpha"), ("sub/b.md", "# beta")]


def test_malformed_line_reports_path_and_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n')
    with pytest.raises(InputFileError, match=rf"{p}:2: invalid JSON"):
        read_corpus(p)


def test_missing_fields_report_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": "a", "text": "ok"}\n{"text": "no id"}\n')
    with pytest.raises(InputFileError, match=r"c.jsonl:2: .*'id'"):
        read_corpus(p)


def test_duplicate_id_in_file_reports_both_lines(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"id": "a", "text": "one"}\n{"id": "b", "text": "two"}\n{"id": "a", "text": "three"}\n')
    with pytest.raises(InputFileError, match=r"c.jsonl:3: duplicate document id 'a' \(first on line 1\)"):
        read_corpus(p)


def test_empty_and_missing_corpus(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputFileError, match=r"empty.jsonl: the corpus is empty"):
        read_corpus(empty)
    with pytest.raises(InputFileError, match=r"corpus not found: .*nope.jsonl"):
        read_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "d").mkdir()
    with pytest.raises(InputFileError, match="empty"):
        read_corpus(tmp_path / "d")


def test_iterables_of_pairs_and_dicts():
    docs = read_corpus([("a", " x "), {"_id": "b", "text": "y"}, Document("c", "z")])
    assert [(d.id, d.text) for d in docs] == [("a", "x"), ("b", "y"), ("c", "z")]
    with pytest.raises(InputFileError, match="duplicate document id 'a'"):
        read_corpus([("a", "x"), ("a", "y")])
