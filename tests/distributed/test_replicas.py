"""Two `q3embed serve --store postgresql://...` replicas on one pgvector store answer /v1/retrieve alike,
and a document added with `q3embed index add --store` is found through both.

Kept fast enough for the default run: a small store, both servers started at once (their start is the
cost), and `index add` run as the same CLI command in this process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from pg_urls import store_url
from ray_corpus import corpus_records

CLI = [sys.executable, "-c", "import sys; from q3embed.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_replica(model, url: str, port: int, env) -> subprocess.Popen:
    return subprocess.Popen(CLI + ["serve", "--model", str(model), "--store", url, "--port", str(port), "--device", "cpu",
                                   "--dtype", "float32", "--log-level", "warning"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_healthy(httpx, proc, port: int, timeout: float = 180.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"replica on port {port} exited (rc {proc.returncode}):\n{proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"replica on port {port} did not become healthy in {timeout} s")


@pytest.mark.timeout(600)
def test_two_replicas_share_one_store(pg_server, tmp_path, minilm_dir, minilm_embedder):
    httpx = pytest.importorskip("httpx")
    from q3embed.cli import main
    from q3embed.stores.open import build_store

    url = store_url(pg_server, "replicas")
    records = corpus_records(24, offset=1000)
    build_store(url, records, minilm_embedder).close()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    ports = [free_port(), free_port()]
    replicas = [start_replica(minilm_dir, url, p, env) for p in ports]
    try:
        for proc, port in zip(replicas, ports):
            wait_healthy(httpx, proc, port)

        def retrieve(port: int, query: str) -> list[tuple[str, float]]:
            r = httpx.post(f"http://127.0.0.1:{port}/v1/retrieve", json={"query": query, "top_k": 5}, timeout=60)
            assert r.status_code == 200, r.text
            return [(h["id"], round(h["score"], 5)) for h in r.json()["results"]]

        queries = [records[i]["title"] for i in (0, 9, 17)] + ["what do mitochondria do in the cell?"]
        for q in queries:
            a, b = retrieve(ports[0], q), retrieve(ports[1], q)
            assert a == b and len(a) == 5
        assert retrieve(ports[0], records[17]["title"])[0][0] == records[17]["_id"]

        new = {"_id": "replica-new-1", "title": "Zebrafish fin regeneration",
               "text": "Zebrafish regrow amputated caudal fins through a blastema of dedifferentiated osteoblasts."}
        (tmp_path / "new.jsonl").write_text(json.dumps(new) + "\n", encoding="utf-8")
        assert main(["index", "add", "--store", url, str(tmp_path / "new.jsonl"), "--device", "cpu",
                     "--dtype", "float32"]) == 0
        query = "how do zebrafish regenerate their fins?"
        for port in ports:  # no restart, no reload call: both replicas read the one database
            assert retrieve(port, query)[0][0] == "replica-new-1"
        assert retrieve(ports[0], query) == retrieve(ports[1], query)
    finally:
        for proc in replicas:
            proc.terminate()
        for proc in replicas:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
            proc.stderr.close()
