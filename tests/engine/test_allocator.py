"""runtime/allocator.keep_freed_memory: glibc takes the settings, and the opt-out keeps its defaults.

What the settings buy is measured, not asserted (timings): docs/benchmarks.md, "Settled findings"
and the two-thread peer run with MALLOPT=1.
"""

import os
import subprocess
import sys

import pytest

_APPLY = "from q3embed.runtime.allocator import keep_freed_memory; print(keep_freed_memory())"


def _applied(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop("Q3EMBED_MALLOC_TUNING", None)
    if env_value is not None:
        env["Q3EMBED_MALLOC_TUNING"] = env_value
    # a child process: the settings are process-wide and must not leak into the test run
    return subprocess.run([sys.executable, "-c", _APPLY], capture_output=True, text=True, env=env,
                          check=True).stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_takes_all_three_settings():
    assert _applied(None) == "True"


def test_opt_out_keeps_the_c_library_defaults():
    assert _applied("0") == "False"


def test_the_cli_applies_them(monkeypatch, tmp_path):
    """The q3embed command calls it for its own process (the library never does on import)."""
    import q3embed.cli as cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(1) or True)
    assert cli.main(["info", str(tmp_path / "no-such-model")]) != 0  # a verb that ends at once, with an error
    assert calls == [1]
