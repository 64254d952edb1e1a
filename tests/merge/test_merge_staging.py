"""A merge killed with -9 leaves `.OUT.partial-PID` (and, mid-overwrite, `.OUT.old-PID`) beside its
output; the next merge to that output clears those of dead processes and leaves live ones alone."""

import subprocess
import sys

import pytest

from q3embed.merge.stream import atomic_output_dir


@pytest.fixture
def dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def live_pid():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid
    p.kill()
    p.wait()


def _staging(parent, name, files=("model.safetensors",)):
    d = parent / name
    d.mkdir()
    for f in files:
        (d / f).write_bytes(b"\\0" * 1024)
    return d


def test_a_new_merge_removes_dead_runs_staging_and_keeps_live_ones(tmp_path, dead_pid, live_pid):
    out = tmp_path / "merged"
    dead = _staging(tmp_path, f".merged.partial-{dead_pid}")
    live = _staging(tmp_path, f".merged.partial-{live_pid}")
    other = _staging(tmp_path, f".other.partial-{dead_pid}")  # another output's: not ours to judge
    with atomic_output_dir(out) as tmp:
        (tmp / "config.json").write_text("{}")
    assert not dead.exists() and live.exists() and other.exists()
    assert (out / "config.json").exists()


def test_an_overwrite_killed_mid_swap_gets_its_previous_output_back(tmp_path, dead_pid):
    from q3embed.merge.stream import remove_stale_staging

    out = tmp_path / "merged"
    old = _staging(tmp_path, f".merged.old-{dead_pid}", files=("config.json",))
    _staging(tmp_path, f".merged.partial-{dead_pid}")
    assert sorted(p.name for p in remove_stale_staging(out)) == [f".merged.old-{dead_pid}",
                                                               f".merged.partial-{dead_pid}"]
    assert (out / "config.json").exists() and not old.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["merged"]
