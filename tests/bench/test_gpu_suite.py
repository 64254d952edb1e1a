"""bench/gpu_suite.py cannot rot before a GPU arrives: its dry run goes through every section on CPU.

The dry run uses tiny shapes, bf16 for the half-precision peers, and the emulated varlen kernel
(q3embed.engine.gpu_checks); the sections' figures are not checked here (no timing asserts),
only that each section ran, reported, and that the report is complete. A second test checks
that a failing or hanging section is recorded, time-boxed and turned into a non-zero exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SUITE = ["-m", "bench.gpu_suite"]  # run from the repository root, as bench/README.md says


def _suite(tmp_path, *flags, timeout=600):
    proc = subprocess.run([sys.executable, *SUITE, "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"),
                           *flags], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    results = tmp_path / "out" / "results.json"
    return proc, (json.loads(results.read_text()) if results.exists() else None)


def test_cpu_dry_run_runs_every_section(tmp_path, qwen3_tokenizer_dir, tiny_embedding_dir, tiny_reranker_dir):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "tokenizer").symlink_to(qwen3_tokenizer_dir)  # the session's tokenizer, not a rebuild
    # The checks section's tiny models are built with the same calls as the session's (seeds 0 and 1, untied
    # reranker head): reuse them instead of two more builds; the section only reads them.
    (tmp_path / "work" / "tiny-embedding").symlink_to(tiny_embedding_dir)
    (tmp_path / "work" / "tiny-reranker").symlink_to(tiny_reranker_dir)
    # About 60 CPU seconds; the wall-clock limit is for a shared, oversubscribed machine.
    proc, res = _suite(tmp_path, "--cpu-dry-run", "--in-process", "--budget-s", "1700", timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    sections = res["sections"]
    assert list(sections) == ["env", "checks", "embed-0.6B", "rerank", "long", "embed-8B", "vl", "tests"]
    assert sections["vl"]["figures"]["parity"]["embedding_bfloat16_cos_min"] > 0.99
    assert {n: r["status"] for n, r in sections.items()} == {n: "ok" for n in sections}, sections
    checks = sections["checks"]["figures"]
    assert checks["embed_bfloat16"]["varlen_calls"] >= checks["embed_bfloat16"]["layers"]
    assert checks["rerank_bfloat16"]["varlen_kept"]
    for name in ("embed-0.6B", "embed-8B"):
        peers = sections[name]["figures"]["peers"]
        assert {"card_fp16", "st_fp16", "q3embed", "q3embed_big"} <= set(peers)
        assert all("error" not in r and r["tok_per_s"] > 0 and 0 < r["mfu_bf16"] for r in peers.values()), peers
    assert sections["embed-0.6B"]["figures"]["peers"]["q3embed"]["cos_min_vs_card_fp32"] > 0.99
    assert set(sections["rerank"]["figures"]) == {"1x3", "2x3"}
    assert "6 tests collected" in sections["tests"]["figures"]["summary"][0]
    assert [t["value"] is not None for t in res["targets"]] == [True] * len(res["targets"])
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| embed-8B | ok |" in md and "## speed targets" in md
    assert (tmp_path / "out" / "suite.log").stat().st_size > 0


def test_failed_and_hung_sections_are_recorded_and_the_rest_runs(tmp_path):
    proc, res = _suite(tmp_path, "--cpu-dry-run", "--sections", "env,checks,long", "--inject-failure", "env",
                       "--inject-hang", "checks", "--inject-failure", "long", "--box-s", "10", timeout=120)
    assert proc.returncode == 1
    s = res["sections"]
    assert s["env"]["status"] == "failed" and "injected" in s["env"]["error"]
    assert s["checks"]["status"] == "timeout" and s["checks"]["seconds"] < 25
    assert s["long"]["status"] == "failed" and "injected" in s["long"]["error"]  # it ran after the hang
    assert "FAILED sections: env, checks, long" in proc.stdout
    assert (tmp_path / "out" / "results.md").exists()


@pytest.mark.parametrize("bad", [["--sections", "env,nope"], []])
def test_bad_arguments_get_one_line(tmp_path, bad):
    flags = bad if bad else []
    cmd = [sys.executable, *SUITE, *flags] + (["--out", str(tmp_path)] if bad else [])
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
