"""`q3embed synth` end to end, and bad input caught before any work starts."""

from __future__ import annotations

import json

import pytest
from synth_helpers import passages, read_jsonl

from q3embed.cli import main


def args(srv_url, model, corpus, out, *extra) -> list[str]:
    return ["synth", "--llm-base-url", srv_url, "--llm-model", model, "--corpus", str(corpus), "--out", str(out),
            "--backoff", "0.001", *extra]


def test_cli_writes_pairs_and_reports(fake_llm, write_corpus, tmp_path, capsys):
    out = tmp_path / "pairs.jsonl"
    rc = main(args(fake_llm.url, fake_llm.model, write_corpus(passages(5)), out,
                   "--tasks", "retrieval,bitext,classification,sts", "--languages", "en,zh", "--n", "7"))
    assert rc == 0
    assert len(read_jsonl(out)) == 7
    err = capsys.readouterr().err
    assert "7 jobs planned" in err and "7  records written" in err
    # The trainer reads synth output as it is (the training data format).
    from q3embed.train.data import read_train_file

    rows = read_train_file(out)
    assert len(rows) == 7 and all(r.query and r.positives and r.instruction for r in rows)


def test_cli_nonzero_exit_when_jobs_fail(fake_llm, write_corpus, tmp_path, capsys):
    texts = passages(2)
    texts[0] += " @always500"
    rc = main(args(fake_llm.url, fake_llm.model, write_corpus(texts), tmp_path / "o.jsonl", "--max-retries", "1"))
    assert rc == 3
    err = capsys.readouterr().err
    assert "1 job(s) failed" in err and "HTTP 500" in err
    report = json.loads((tmp_path / "o.jsonl.report.json").read_text())
    assert report["counts"]["gave_up"] == 1 and report["counts"]["http_5xx"] == 2


def test_refused_request_stops_the_run(fake_llm, write_corpus, tmp_path, capsys):
    texts = passages(30)
    texts[3] += " @401"
    rc = main(args(fake_llm.url, fake_llm.model, write_corpus(texts), tmp_path / "o.jsonl", "--concurrency", "2"))
    assert rc == 1
    assert "refused the request: HTTP 401" in capsys.readouterr().err
    assert len(fake_llm.requests) < 2 * 30  # the queued jobs were cancelled


@pytest.mark.parametrize("case, message", [
    ("unreachable", "cannot reach the LLM endpoint"),
    ("wrong_model", "model 'gpt-nope' is not served"),
    ("empty_corpus", "the corpus is empty"),
    ("malformed_corpus", "corpus.jsonl:2: invalid JSON"),
    ("missing_corpus", "corpus not found"),
    ("bad_task", "--tasks 'poetry' is not known; accepted: retrieval, bitext, classification, sts"),
    ("bad_per_passage", "--per-passage must be >= 1, got 0"),
    ("bad_personas", "personas file"),
])
def test_bad_input_fails_before_work(fake_llm, write_corpus, tmp_path, capsys, case, message):
    corpus = write_corpus(passages(2))
    url, model, extra = fake_llm.url, fake_llm.model, []
    if case == "unreachable":
        url = "http://127.0.0.1:9/v1"
    elif case == "wrong_model":
        model = "gpt-nope"
    elif case == "empty_corpus":
        corpus.write_text("\n")
    elif case == "malformed_corpus":
        corpus.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": \n')
    elif case == "missing_corpus":
        corpus = tmp_path / "nope.jsonl"
    elif case == "bad_task":
        extra = ["--tasks", "retrieval,poetry"]
    elif case == "bad_per_passage":
        extra = ["--per-passage", "0"]
    elif case == "bad_personas":
        (tmp_path / "p.jsonl").write_text('{"name": "x"}\n')
        extra = ["--personas", str(tmp_path / "p.jsonl")]
    out = tmp_path / "out.jsonl"
    assert main(args(url, model, corpus, out, *extra)) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and not fake_llm.requests  # nothing started


def test_persona_hub_jsonl_is_read(fake_llm, write_corpus, tmp_path):
    hub = tmp_path / "persona_hub.jsonl"
    hub.write_text('{"input persona": "a beekeeper in Wales", "synthesized text": "..."}\n'
                   '{"persona": "a glassblower"}\n')
    out = tmp_path / "out.jsonl"
    assert main(args(fake_llm.url, fake_llm.model, write_corpus(passages(4)), out, "--personas", str(hub))) == 0
    assert {r["provenance"]["persona"] for r in read_jsonl(out)} <= {"a beekeeper in Wales", "a glassblower"}
    prompt = fake_llm.requests[0]["messages"][0]["content"]
    assert "1. a beekeeper in Wales\n2. a glassblower\n" in prompt or "1. a glassblower\n2. a beekeeper in Wales\n" in prompt


def test_packaged_personas_are_many_and_distinct():
    from q3embed.synth.personas import load_personas

    personas = load_personas()
    assert len(personas) >= 30 and len(set(personas)) == len(personas)
