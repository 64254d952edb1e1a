"""Kill a synth child process midway (SIGKILL), rerun: no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import passages, read_jsonl
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

    with FakeLLM(delay=0.03) as srv:  # slow answers, so the kill lands midway
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
    assert sorted(keys) == sorted(r["key"] for r in want), "records lost or invented"
    # The fake LLM is deterministic, so the records themselves must match, not only their keys.
    assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, want))
    assert len(want) == 40 * 2 - 3  # 4 "@dupe" jobs write one query text: 3 dropped
