"""SIGKILL an embedding worker and then the driver mid-build; the same command again finishes the index with
every document once and the vectors a single process gives.

Kept fast enough for the default run: one actor, a few dozen documents, and the kills timed by what is on
disk rather than by sleeps. A Ray worker setup hook (test-only, carried by the killed driver's job) adds
a fixed delay to each embedding batch of that run, so the build is reliably still running at each kill
point however fast or loaded the machine is. The second run is the same command in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from ray_corpus import check_against_single_process, corpus_records, write_shards

from q3embed.stores import Index

N_DOCS = 40
DOCS_PER_TASK = 4  # one actor call = one part (--commit-every 4, one chunk per document): 10 parts in all
BATCH_DELAY_S = 0.5

# The killed run's driver: the CLI, in a Ray job whose workers sleep before each embedding batch.
DRIVER = """
import sys

import ray

DELAY = float(sys.argv[2])


def slow_batches():
    import time

    from q3embed.distributed import embed_actor

    call = embed_actor.EmbedRecords.__call__

    def slowed(self, batch):
        time.sleep(DELAY)
        return call(self, batch)

    embed_actor.EmbedRecords.__call__ = slowed


ray.init(address=sys.argv[1], log_to_driver=False, runtime_env={"worker_process_setup_hook": slow_batches})
from q3embed.cli import main

sys.exit(main(sys.argv[3:]))
"""


def marked_parts(staging) -> int:
    return len(list(staging.glob("*.part.json"))) if staging.exists() else 0


def embed_workers() -> list[psutil.Process]:
    """The pool's actor processes (titled ``ray::MapWorker(MapBatches(EmbedRecords))``) of the Ray cluster
    this test session started: descendants of this process only, never another session's."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            title = p.cmdline()
            if title and title[0].startswith("ray::") and "EmbedRecords" in title[0]:  # not the driver's own -c
                out.append(p)
        except psutil.Error:
            pass
    return out


def wait_for(condition, proc, what: str, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the build ended (rc {proc.returncode}) before {what}:\n{proc.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.timeout(900)  # 7 minutes were seen on 2 cores at load average 25 (six process starts)
def test_killed_worker_and_driver_leave_every_id_once(ray_address, tmp_path, minilm_dir, minilm_embedder):
    from q3embed.cli import main

    records = corpus_records(N_DOCS, offset=300)
    write_shards(tmp_path / "corpus", records, shards=2)
    out, staging = tmp_path / "idx", tmp_path / "idx.ray-parts"
    args = ["index", "build", "--model", str(minilm_dir), "--corpus", str(tmp_path / "corpus"), "--out", str(out),
            "--device", "cpu", "--dtype", "float32", "--ray", ray_address, "--workers", "1",
            "--docs-per-task", str(DOCS_PER_TASK), "--commit-every", str(DOCS_PER_TASK)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    # Run 1: the worker dies after the first part; Ray restarts it and redoes its batch; the driver dies
    # once the new worker has delivered a part.
    first = subprocess.Popen([sys.executable, "-c", DRIVER, ray_address, str(BATCH_DELAY_S), *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: marked_parts(staging) >= 1 and embed_workers(), first, "the first part")
        victim = embed_workers()[0]
        os.kill(victim.pid, signal.SIGKILL)
        staged = marked_parts(staging)
        wait_for(lambda: any(p.pid != victim.pid for p in embed_workers()) and marked_parts(staging) > staged, first,
                 "a part from the restarted worker")
    finally:
        first.kill()
    assert first.wait(60) == -signal.SIGKILL
    first.stderr.close()
    kept = marked_parts(staging)
    assert 0 < kept < N_DOCS // DOCS_PER_TASK and not (out / "manifest.json").exists()  # killed before its commit
    markers = [json.loads(m.read_text(encoding="utf-8")) for m in staging.glob("*.part.json")]
    kept_files = {(staging / meta["path"]).stat().st_ino for m in markers for meta in m["files"].values()}

    # Run 2, the same command: it keeps the staged parts, embeds the rest, and commits once.
    assert main(args) == 0
    index = Index.open(out, verify=True)
    assert len(index) == index.num_chunks == N_DOCS and index.generation == 1
    check_against_single_process(index, records, minilm_embedder)
    assert not staging.exists()
    # The killed run's parts were committed as they were (hard links of the same files), not embedded again.
    assert kept_files <= {p.stat().st_ino for p in (out / "segments").iterdir()}
