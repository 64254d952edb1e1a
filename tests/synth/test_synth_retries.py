"""Retries, failure counting and dedup against the fake endpoint's injected failures."""

from __future__ import annotations

import pytest
from synth_helpers import passages, read_jsonl

from q3embed.synth.client import ChatClient, EndpointError, RatePacer, RetryPolicy
from q3embed.synth.generate import SynthConfig
from q3embed.synth.runner import synthesize
from q3embed.synth.tasks import TASKS

FAST = RetryPolicy(max_retries=3, backoff_base=0.001, backoff_max=0.01)
RETRIEVAL = SynthConfig(tasks=("retrieval",), answer_retries=2)


def run(fake_llm, corpus, out, config=RETRIEVAL, **kw):
    return synthesize(corpus, out, fake_llm.url, fake_llm.model, config, retry=FAST, concurrency=3, **kw)


def test_clean_run_writes_one_record_per_job(fake_llm, write_corpus, tmp_path):
    report = run(fake_llm, write_corpus(passages(6)), tmp_path / "out.jsonl")
    c = report.counts.as_dict()
    assert report.ok and report.planned == 6
    assert c["written"] == 6 and c["requests"] == 12
    assert sum(c[k] for k in ("http_429", "http_5xx", "bad_json", "bad_schema", "gave_up")) == 0
    recs = read_jsonl(tmp_path / "out.jsonl")
    assert sorted(r["key"] for r in recs) == [f"p{i}|retrieval|0" for i in range(6)]
    assert (tmp_path / "out.jsonl.report.json").exists()


def test_transient_http_errors_are_retried_and_counted(fake_llm, write_corpus, tmp_path):
    texts = passages(4)
    texts[0] += " @500x2"
    texts[1] += " @429x3"
    report = run(fake_llm, write_corpus(texts), tmp_path / "out.jsonl")
    c = report.counts.as_dict()
    # p0: 2 x 500 on each of its two steps; p1: 3 x 429 on each step (Retry-After: 0)
    assert c["http_5xx"] == 4 and c["http_429"] == 6
    assert c["written"] == 4 and c["gave_up"] == 0
    assert c["requests"] == 8 + 4 + 6


def test_malformed_and_wrong_schema_answers_are_reasked(fake_llm, write_corpus, tmp_path):
    texts = passages(3)
    texts[0] += " @badjsonx1"
    texts[1] += " @schemax2"
    report = run(fake_llm, write_corpus(texts), tmp_path / "out.jsonl")
    c = report.counts.as_dict()
    assert c["bad_json"] == 2 and c["bad_schema"] == 4  # per step: 1 and 2
    assert c["written"] == 3 and c["gave_up"] == 0


def test_exhausted_retries_give_up_counted_and_resume_retries_only_those(fake_llm, write_corpus, tmp_path):
    texts = passages(3)
    texts[1] += " @always500"
    texts[2] += " @schemax9"   # more bad answers than answer_retries allows
    corpus, out = write_corpus(texts), tmp_path / "out.jsonl"
    report = run(fake_llm, corpus, out)
    c = report.counts.as_dict()
    assert c["gave_up"] == 2 and c["written"] == 1 and not report.ok
    assert c["http_5xx"] == FAST.max_retries + 1
    assert c["bad_schema"] == RETRIEVAL.answer_retries + 1
    assert any("p1|retrieval|0" in f and "HTTP 500" in f for f in report.failures)
    # Rerun: the finished job is skipped, the two failed ones are tried again (and fail again:
    # p2 has had 3 of its 9 bad answers, p1 always fails).
    fake_llm.requests.clear()
    report2 = run(fake_llm, corpus, out)
    assert report2.counts["resumed"] == 1 and report2.counts["gave_up"] == 2
    assert fake_llm.requests and all(texts[0] not in r["messages"][0]["content"] for r in fake_llm.requests)
    assert [r["key"] for r in read_jsonl(out)] == ["p0|retrieval|0"]


def test_duplicate_queries_are_dropped_and_not_redone(fake_llm, write_corpus, tmp_path):
    texts = passages(4)
    for i in (0, 2, 3):
        texts[i] += " @dupe"
    corpus, out = write_corpus(texts), tmp_path / "out.jsonl"
    report = run(fake_llm, corpus, out)
    assert report.counts["duplicate"] == 2 and report.counts["written"] == 2
    queries = [r["query"] for r in read_jsonl(out)]
    assert queries.count("the very same query") == 1
    report2 = run(fake_llm, corpus, out)
    assert report2.counts["resumed"] == 4 and report2.counts["requests"] == 0


def test_all_four_tasks_produce_training_records(fake_llm, write_corpus, tmp_path):
    config = SynthConfig(tasks=tuple(TASKS), languages=("en", "de"))
    run(fake_llm, write_corpus(passages(3)), tmp_path / "out.jsonl", config)
    recs = read_jsonl(tmp_path / "out.jsonl")
    assert len(recs) == 12
    for r in recs:
        assert isinstance(r["query"], str) and r["query"]
        assert isinstance(r["pos"], list) and r["pos"] and isinstance(r["instruction"], str)
        p = r["provenance"]
        assert {"passage_id", "persona", "task", "language", "length", "difficulty", "query_type", "llm_model"} <= set(p)
    by_task = {r["provenance"]["task"]: r for r in recs}
    assert by_task["classification"]["neg"] == ["cooking", "sports"]
    assert by_task["bitext"]["query"].startswith("[")


def test_preflight_unreachable_wrong_model_and_no_model_list(fake_llm):
    with ChatClient("http://127.0.0.1:9/v1", "m") as c, pytest.raises(EndpointError, match="cannot reach"):
        c.check()
    with ChatClient(fake_llm.url, "no-such-model") as c, pytest.raises(EndpointError, match="fake-qwen3-32b"):
        c.check()
    fake_llm.serve_models = False  # like a server without /v1/models: a tiny chat call decides
    with ChatClient(fake_llm.url, fake_llm.model) as c:
        c.check()
    with ChatClient(fake_llm.url, "no-such-model") as c, pytest.raises(EndpointError, match="HTTP 404"):
        c.check()


def test_rate_pacer_reserves_evenly_spaced_slots(monkeypatch):
    slept = []
    monkeypatch.setattr("q3embed.synth.client.time.sleep", slept.append)
    monkeypatch.setattr("q3embed.synth.client.time.monotonic", lambda: 100.0)
    pacer = RatePacer(4.0)
    for _ in range(3):
        pacer.wait()
    assert slept == [0.0, 0.25, 0.5]
    with pytest.raises(ValueError):
        RatePacer(0)


def test_backoff_grows_and_honours_retry_after():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0)
    assert 0.5 <= policy.delay(1) <= 1.0 and 2.0 <= policy.delay(3) <= 4.0 and policy.delay(10) <= 5.0
    assert policy.delay(2, retry_after=0.0) == 0.0
