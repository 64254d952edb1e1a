"""``q3embed synth --weak``: weak pairs from the corpus, the same store, resume and filter."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth_helpers import read_jsonl

from q3embed.cli import main
from q3embed.data import Document, read_corpus
from q3embed.errors import ConfigError
from q3embed.synth.filter import read_pairs, select_pairs
from q3embed.synth.weak import WeakConfig, split_first_sentence, weak_pair, weak_records

BODY = ("Insulin lowers blood glucose in most patients, e.g. those with type 2 diabetes. "
        "It acts on the liver and muscle. A third sentence ends it.")


def _corpus(tmp_path, rows):
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_first_sentence_split_keeps_abbreviations_inside():
    first, rest = split_first_sentence(BODY)
    assert first == "Insulin lowers blood glucose in most patients, e.g. those with type 2 diabetes."
    assert rest == "It acts on the liver and muscle. A third sentence ends it."
    assert split_first_sentence("Only one sentence here.") is None


def test_title_and_first_sentence_pairs_use_the_rest_of_the_passage(tmp_path):
    path = _corpus(tmp_path, [{"_id": "a", "title": "Insulin and the liver", "text": BODY},
                              {"_id": "b", "title": "", "text": BODY},
                              {"_id": "c", "title": "Short", "text": "Too short."}])
    a, b, c = read_corpus(path)
    assert a.meta["title"] == "Insulin and the liver" and a.text.startswith("Insulin and the liver")
    assert weak_pair(a, "title") == ("Insulin and the liver", BODY)
    q, pos = weak_pair(a, "first_sentence")
    assert q.startswith("Insulin lowers") and "Insulin and the liver" not in pos and q not in pos
    assert weak_pair(b, "title") is None            # no title
    assert weak_pair(c, "title") is None and weak_pair(c, "first_sentence") is None  # too short
    recs = list(weak_records([a, b, c], WeakConfig()))
    assert [r["key"] for r in recs] == ["a|weak-title|0", "a|weak-first_sentence|0", "b|weak-first_sentence|0"]
    assert all(isinstance(r["pos"], list) and r["instruction"] for r in recs)
    assert recs[0]["provenance"] == {"source": "q3embed synth --weak", "passage_id": "a", "task": "weak",
                                     "form": "title"}
    assert len(list(weak_records([a, b, c], WeakConfig(n=2)))) == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(forms=("title", "abstract")), "forms[1] 'abstract' is not known; accepted: title, first_sentence"),
    (dict(forms=()), "forms must not be empty"),
    (dict(n=0), "n must be >= 1, got 0"),
    (dict(n="3"), "n must be int, got str '3'"),
    (dict(form=("title",)), "unknown config key 'form'; accepted here: forms, n"),
])
def test_bad_config_is_one_line_naming_the_key(kwargs, message):
    with pytest.raises(ConfigError) as e:
        WeakConfig(**kwargs)
    assert str(e.value) == message


def _rows(n):
    return [{"_id": f"p{i}", "title": f"Study number {i} of insulin dosing",
             "text": f"Patients in cohort {i} received insulin. Their glucose fell by {i} percent over a year."}
            for i in range(n)]


def test_cli_writes_resumes_after_a_torn_tail_and_matches_an_uninterrupted_run(tmp_path, capsys):
    corpus = _corpus(tmp_path, _rows(30))
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    args = ["synth", "--weak", "title,first_sentence", "--corpus", str(corpus)]
    assert main([*args, "--out", str(whole)]) == 0
    assert "60  records written" in capsys.readouterr().err
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2 - 7])     # a run killed mid-line: half the records and a torn tail
    assert main([*args, "--out", str(cut)]) == 0
    err = capsys.readouterr().err
    assert "cut a torn last line" in err and "jobs skipped because an earlier run finished them" in err
    assert cut.read_bytes() == data                 # nothing lost, nothing twice, same order
    assert main([*args, "--out", str(cut)]) == 0    # a finished store writes nothing more
    assert "0  records written" in capsys.readouterr().err and cut.read_bytes() == data
    recs = read_pairs(cut)                          # the training format the filter reads
    assert len(recs) == 60 and len({r["key"] for r in recs}) == 60
    assert json.loads((tmp_path / "cut.jsonl.report.json").read_text())["forms"] == ["title", "first_sentence"]


def test_weak_pairs_go_through_the_cosine_filter(tmp_path):
    recs = list(weak_records([Document(r["_id"], f"{r['title']} {r['text']}", {"title": r["title"]}) for r in _rows(4)],
                             WeakConfig(forms=("title",))))
    result = select_pairs(recs, np.array([0.9, 0.1, 0.8, 0.2], dtype=np.float32), threshold=0.5)
    assert [r["key"] for r in result.kept] == ["p0|weak-title|0", "p2|weak-title|0"]
    assert result.kept[0]["filter"]["threshold"] == 0.5


def test_cli_needs_an_llm_or_weak_and_not_both(tmp_path, capsys):
    corpus = _corpus(tmp_path, _rows(2))
    assert main(["synth", "--corpus", str(corpus), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "needs --llm-base-url and --llm-model" in capsys.readouterr().err
    assert main(["synth", "--weak", "title", "--llm-model", "m", "--corpus", str(corpus),
                 "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "--weak makes pairs without an LLM, so --llm-model would be ignored; drop it" in capsys.readouterr().err
    assert main(["synth", "--weak", "title", "--personas", "p.txt", "--temperature", "0.2", "--corpus", str(corpus),
                 "--out", str(tmp_path / "o.jsonl")]) == 1
    assert "so --personas, --temperature would be ignored; drop them, or drop --weak" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    assert main(["synth", "--weak", "nope", "--corpus", str(corpus), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert capsys.readouterr().err == ("q3embed synth: error: --weak 'nope' is not known; "
                                       "accepted: title, first_sentence\n")


def test_cli_weak_forms_that_give_no_pair_are_an_error(tmp_path, capsys):
    """A .txt corpus has no titles: 0 pairs planned is not a success."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("The first passage has enough words to be a passage of real text.\n"
                      "The second passage is also long enough to count as a passage here.\n")
    assert main(["synth", "--weak", "title", "--corpus", str(corpus), "--out", str(tmp_path / "o.jsonl")]) == 1
    assert f"error: no passage of {corpus} gives a weak pair of the forms title" in capsys.readouterr().err
