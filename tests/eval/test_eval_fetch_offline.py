"""`q3embed data fetch` with no hub fails at once with one line, instead of datasets' five retries."""

import time

import pytest

from q3embed.cli import main

pytest.importorskip("datasets")


@pytest.mark.parametrize("setting, value, words", [
    ("ENDPOINT", "http://127.0.0.1:9", "127.0.0.1:9 cannot be reached"),  # nothing listens on port 9
    ("HF_HUB_OFFLINE", True, "offline mode is on"),
])
def test_fetch_without_the_hub_fails_fast_in_one_line(setting, value, words, tmp_path, monkeypatch, capsys):
    import datasets  # noqa: F401 - imported here so the timing below is the fetch's own
    from huggingface_hub import constants

    monkeypatch.setattr(constants, setting, value)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    start = time.monotonic()
    assert main(["data", "fetch", "stsb", "--out", str(tmp_path)]) == 1
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "stsb").exists() and not (tmp_path / ".stsb.partial").exists()
