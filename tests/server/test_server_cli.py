"""``q3embed serve``: safe defaults, argument errors, and (slow) a real process stopped by SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from q3embed.cli import build_parser, main


def test_serve_defaults_are_safe():
    args = build_parser().parse_args(["serve", "--model", "m"])
    assert args.host == "127.0.0.1" and args.cors_origin == [] and args.api_key is None
    assert not args.no_truncate and not args.no_batching
    assert not args.allow_special_tokens and args.max_request_chars is None


def test_serve_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--reranker", "--index", "--api-key", "--max-batch-tokens", "--max-queue", "--max-input-tokens",
                 "--max-request-chars", "--allow-special-tokens"):
        assert flag in out
    assert "UNSAFE for untrusted text" in out


def test_serve_passes_the_slow_client_limits_to_uvicorn(monkeypatch, tiny_embedder):
    import uvicorn

    from q3embed.cli import serve
    from q3embed.server.http import HeadTimeoutH11Protocol

    seen = {}
    monkeypatch.setattr(serve, "_load", lambda args: (tiny_embedder, None, None))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: seen.setdefault("config", self.config))
    assert main(["serve", "--model", "m", "--header-timeout", "2.5", "--body-timeout", "7"]) == 0
    config = seen["config"]
    settings = config.app.state.q3.settings
    assert (settings.header_timeout_s, settings.body_timeout_s) == (2.5, 7.0)
    assert issubclass(config.http, HeadTimeoutH11Protocol) and config.http.header_timeout_s == 2.5
    assert config.h11_max_incomplete_event_size == settings.max_header_bytes
    assert config.timeout_graceful_shutdown == 30
    config.app.state.q3.close()
    assert main(["serve", "--model", "m", "--body-timeout", "0"]) == 1  # one clear line, no traceback


@pytest.mark.parametrize("special", [False, True])
def test_serve_maps_special_tokens_and_request_chars(monkeypatch, tiny_embedder, tiny_reranker, special):
    import uvicorn

    from q3embed.cli import serve
    from q3embed.engine import Reranker

    loads, seen = {}, {}
    monkeypatch.setattr(serve, "load_embedder", lambda name, **kw: loads.setdefault("embedder", kw) and tiny_embedder)
    monkeypatch.setattr(Reranker, "load", lambda name, **kw: loads.setdefault("reranker", kw) and tiny_reranker)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: seen.setdefault("config", self.config))
    flags = ["--allow-special-tokens"] if special else []
    assert main(["serve", "--model", "m", "--reranker", "r", "--max-request-chars", "5000", *flags]) == 0
    # Both models are loaded with the switch (Embedder/Reranker.load keep user text as text unless it is set).
    assert loads["embedder"]["allow_special_tokens"] is special and loads["reranker"]["allow_special_tokens"] is special
    state = seen["config"].app.state.q3
    try:
        assert state.settings.max_request_chars == 5000
        assert state.embedding.limits.max_total_chars == 5000 and state.rerank.limits.max_total_chars == 5000
    finally:
        state.close()


@pytest.mark.parametrize("flags, words", [
    (["--max-items", "10", "--max-queue", "5"], "--max-items (10) must not exceed --max-queue (5)"),
    (["--max-batch-tokens", "0"], "--max-batch-tokens must be >= 1, got 0"),
    (["--max-input-tokens", "1"], "--max-input-tokens must be >= 2, got 1"),
    (["--max-request-chars", "0"], "--max-request-chars must be >= 1, got 0"),
    (["--max-wait-ms", "-1"], "--max-wait-ms must be >= 0, got -1"),
    (["--header-timeout", "0"], "--header-timeout must be > 0, got 0"),
    (["--max-body-mb", "0"], "--max-body-mb must be > 0, got 0"),
    (["--api-key", ""], "api_key must be a non-empty string"),
])
def test_bad_settings_are_one_line_naming_the_flag(monkeypatch, capsys, flags, words):
    from q3embed.cli import serve

    monkeypatch.setattr(serve, "_load", lambda args: pytest.fail("settings must be checked before any model loads"))
    assert main(["serve", "--model", "m", *flags]) == 1
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_serve_needs_a_model(capsys):
    assert main(["serve"]) == 1
    assert "--model" in capsys.readouterr().err
    assert main(["serve", "--reranker", "r", "--index", "i"]) == 1


@pytest.mark.slow
def test_sigterm_stops_a_real_server(tiny_embedding_dir, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key_file = tmp_path / "key"
    key_file.write_text("s3cret\n")
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from q3embed.cli import main; sys.exit(main())",
                             "serve", "--model", str(tiny_embedding_dir), "--port", str(port), "--device", "cpu",
                             "--api-key-file", str(key_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
            time.sleep(0.2)
        r = httpx.post(url + "/v1/embeddings", json={"input": ["hello"]}, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200
        assert httpx.post(url + "/v1/embeddings", json={"input": ["hello"]}).status_code == 401
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says why it stopped.
        assert proc.wait(60) in (0, -signal.SIGTERM)
        log = proc.stdout.read().decode()
        assert "Application shutdown complete" in log and "Traceback" not in log, log
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("content, words", [
    ("", "is empty; expected the API key on its first line"),
    ("\n\n", "is empty; expected the API key on its first line"),
    ("\nsecret\n", "has an empty first line; expected the API key"),
    ("clé-ünï\n", "holds 'é' at position 2; an API key must be printable ASCII"),
    ("two words\n", "holds U+0020 at position 3"),
    (None, "no such file; expected a file whose first line is the API key"),
])
def test_a_bad_api_key_file_is_one_line_naming_the_file(monkeypatch, capsys, tmp_path, content, words):
    from q3embed.cli import serve

    monkeypatch.setattr(serve, "_load", lambda args: pytest.fail("the key must be checked before any model loads"))
    key_file = tmp_path / "key.txt"
    if content is not None:
        key_file.write_text(content, encoding="utf-8")
    assert main(["serve", "--model", "m", "--api-key-file", str(key_file)]) == 1
    err = capsys.readouterr().err
    assert f"--api-key-file {key_file}" in err and words in err, err
    assert "Traceback" not in err and "index out of range" not in err and len(err.strip().splitlines()) == 1, err


def test_a_non_ascii_api_key_is_refused_at_start_up(monkeypatch, capsys):
    from q3embed.cli import serve
    from q3embed.server import ServerSettings

    monkeypatch.setattr(serve, "_load", lambda args: pytest.fail("the key must be checked before any model loads"))
    assert main(["serve", "--model", "m", "--api-key", "clé-ünï"]) == 1
    err = capsys.readouterr().err
    assert "'é' at position 2" in err and "printable ASCII" in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(ValueError, match="printable ASCII"):
        ServerSettings(api_key="clé-ünï")  # the library refuses it too: no client could send it
    assert ServerSettings(api_key="ascii-Key_0.9~+/=").api_key == "ascii-Key_0.9~+/="
