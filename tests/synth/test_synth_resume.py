"""Kill a synth child process midway (SIGKILL), rerun: no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from synth_helpers import passages, read_jsonl
from fake_llm import FakeLLM

from q3embed.cli import main

CHILD = "import sys; from q3embed.cli import main; sys.exit(main())"


def synth_args(srv, corpus, out) -> list[str]:
    return ["synth", "--llm-base-url", srv.url, "--llm-model", srv.model, "--corpus", str(corpus), "--out", str(out),
            "--tasks", "retrieval,sts", "--languages", "en,de", "--concurrency", "4", "--backoff", "0.001"]


def test_sigkill_midway_then_resume(write_corpus, tmp_path):
    texts = passages(40)
    texts[5] += " @dupe"
    texts[9] += " @dupe"      # one of these two is dropped as a duplicate
    texts[12] += " @500x1"    # and a retried failure along the way
    corpus = write_corpus(texts)
    full, killed = tmp_path / "full.jsonl", tmp_path / "killed.jsonl"

    with FakeLLM() as srv:  # reference: one uninterrupted run
        assert main(synth_args(srv, corpus, full)) == 0

    with FakeLLM(delay=0.1) as srv:  # slow answers (~4 s of work), so the kill lands midway
        child = subprocess.Popen([sys.executable, "-c", CHILD, *synth_args(srv, corpus, killed)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            if killed.exists() and killed.read_text().count("\n") >= 10:
                break
            time.sleep(0.01)
        assert child.poll() is None, f"child ended before the kill: {child.stderr.read().decode()[-500:]}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        partial = read_jsonl(killed)
        assert 10 <= len(partial) < len(read_jsonl(full))

        srv.delay = 0.0
        assert main(synth_args(srv, corpus, killed)) == 0

    want, got = read_jsonl(full), read_jsonl(killed)
    keys = [r["key"] for r in got]
    assert len(keys) == len(set(keys)), "duplicate keys after resume"
    assert len({r["query"] for r in got}) == len(got), "duplicate queries after resume"
    # Nothing lost: every planned job is either written or recorded as a duplicate.
    planned = {f"p{i}|{t}|0" for i in range(40) for t in ("retrieval", "sts")}
    skipped = {r["key"] for r in read_jsonl(str(killed) + ".skipped")}
    assert set(keys) | skipped == planned and not set(keys) & skipped
    assert len(want) == len(got) == 40 * 2 - 3  # 4 "@dupe" jobs write one query text: 3 dropped
    # Which @dupe job wins depends on completion order; every other record must match exactly
    # (the fake LLM is deterministic).
    same = [r for r in got if r["query"] != "the very same query"]
    assert sorted(map(json.dumps, same)) == sorted(json.dumps(r) for r in want if r["query"] != "the very same query")
