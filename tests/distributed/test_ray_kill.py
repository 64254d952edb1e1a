"""SIGKILL an embedding worker and the driver mid-build; the same command again finishes the index with
every document once and the vectors a single process gives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from ray_corpus import check_against_single_process, corpus_records, write_shards

from q3embed.stores import Index

N_DOCS = 160


def marked_parts(staging) -> int:
    return len(list(staging.glob("*.part.json"))) if staging.exists() else 0


def embed_workers() -> list[psutil.Process]:
    """The actor processes of the pool (Ray titles them ``ray::MapWorker(MapBatches(EmbedRecords))``)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any("EmbedRecords" in part for part in (p.info["cmdline"] or [])):
                out.append(p)
        except psutil.Error:
            pass
    return out


def wait_for(condition, proc, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the build ended (rc {proc.returncode}) before the kill point:\n{proc.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for the build to reach the kill point")
        time.sleep(0.2)


def kill_one_worker() -> int:
    workers = embed_workers()
    assert workers, "no embedding actor found to kill"
    os.kill(workers[0].pid, signal.SIGKILL)
    return workers[0].pid


@pytest.mark.slow  # two builds on a 2-CPU cluster: 1-5 minutes here
@pytest.mark.timeout(900)
def test_killed_worker_and_driver_leave_every_id_once(ray_address, tmp_path, minilm_dir, minilm_fp32):
    records = corpus_records(N_DOCS, offset=300)
    write_shards(tmp_path / "corpus", records, shards=4)
    out, staging = tmp_path / "idx", tmp_path / "idx.ray-parts"
    cmd = [sys.executable, "-c", "import sys; from q3embed.cli import main; sys.exit(main())", "index", "build", "--model", str(minilm_dir), "--corpus",
           str(tmp_path / "corpus"), "--out", str(out), "--device", "cpu", "--dtype", "float32",
           "--ray", ray_address, "--workers", "2", "--docs-per-task", "8", "--commit-every", "8"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    # Run 1: a worker dies after the first part, then the driver dies two parts later.
    first = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: marked_parts(staging) >= 1, first)
    kill_one_worker()
    staged = marked_parts(staging)
    wait_for(lambda: marked_parts(staging) >= staged + 2, first)
    first.send_signal(signal.SIGKILL)
    assert first.wait(60) == -signal.SIGKILL
    kept = marked_parts(staging)
    assert 0 < kept and not (out / "manifest.json").exists()  # killed before its commit: nothing committed yet

    # Run 2, the same command: it keeps the staged parts; a worker dies again and Ray redoes its batch.
    second = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: embed_workers() and marked_parts(staging) > kept, second)
    kill_one_worker()
    _, err = second.communicate(timeout=600)
    assert second.returncode == 0, err

    index = Index.open(out, verify=True)
    assert len(index) == index.num_chunks == N_DOCS
    check_against_single_process(index, records, minilm_fp32)
    assert not staging.exists()
