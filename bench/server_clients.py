"""The clients of bench/server_load.py: K concurrent clients against a q3embed server for T seconds.

``run_load``: each client sends /v1/embeddings requests back to back (``texts`` random texts of 8..64 words
each). The run stops after ``seconds`` or ``max_requests``, whichever comes first. It
reports requests/s, tokens/s (the server's usage counts), p50/p99 latency of answered (200)
requests, errors, 429s and
5xx, and, given the server's pid, its resident memory at the start, peak and end.

``run_mixed``: that many clients per kind send /v1/embeddings (``texts`` texts),
/v1/rerank (a query and ``docs`` documents) and /v1/retrieve (``top_k`` 10, ``rerank_top``)
back to back, and one more client sends a one-text embedding probe after another. Before the
load, ``baseline`` probes run alone. It reports each kind's figures, the probe's p50/p99
alone and under load, and their ratio (how much a heavy neighbour slows a small request).
"""

from __future__ import annotations

import asyncio
import random
import threading
import time

import httpx

WORDS = ("the of and to in is was for on that with as by at from his it an were are which this be or has had "
         "capital china beijing gravity apple protein cell gene river mountain energy market price model data "
         "network query document search index vector embedding rerank server batch token").split()


def random_text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 64)))


class MemorySampler:
    """Samples a process's RSS every ``every`` seconds in a thread (psutil)."""

    def __init__(self, pid: int | None, every: float = 0.5):
        self.pid, self.every, self.samples = pid, every, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import psutil

        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            self.samples.append(proc.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self):
        if self.pid is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self.pid is not None:
            self._thread.join()

    def summary(self) -> dict:
        if not self.samples:
            return {}
        mib = [s / 2**20 for s in self.samples]
        return {"rss_start_mib": round(mib[0], 1), "rss_peak_mib": round(max(mib), 1), "rss_end_mib": round(mib[-1], 1)}


async def _client(http: httpx.AsyncClient, url: str, texts: int, deadline: float, budget: list[int],
                  rng: random.Random, out: dict) -> None:
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        body = {"input": [random_text(rng) for _ in range(texts)]}
        start = time.perf_counter()
        try:
            r = await http.post(url + "/v1/embeddings", json=body)
        except httpx.HTTPError:
            out["transport_errors"] += 1
            continue
        if r.status_code == 200:
            out["latencies"].append(time.perf_counter() - start)  # of answered requests only
            out["ok"] += 1
            out["tokens"] += r.json()["usage"]["total_tokens"]
        elif r.status_code == 429:
            out["429"] += 1
            await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))
        else:
            out["5xx" if r.status_code >= 500 else "other_4xx"] += 1


async def _load(url: str, concurrency: int, seconds: float, texts: int, max_requests: int, api_key: str | None,
                seed: int) -> dict:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    out = {"ok": 0, "tokens": 0, "429": 0, "5xx": 0, "other_4xx": 0, "transport_errors": 0, "latencies": []}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as http:
        start = time.monotonic()
        budget = [max_requests]
        await asyncio.gather(*[_client(http, url, texts, start + seconds, budget, random.Random(seed + k), out)
                               for k in range(concurrency)])
        out["elapsed"] = time.monotonic() - start
    return out


def run_load(url: str, concurrency: int = 8, seconds: float = 20.0, texts: int = 4, max_requests: int = 100_000,
             api_key: str | None = None, server_pid: int | None = None, seed: int = 0) -> dict:
    """Drive the server and return the summary (see the module docstring)."""
    with MemorySampler(server_pid) as memory:
        raw = asyncio.run(_load(url, concurrency, seconds, texts, max_requests, api_key, seed))
    lat = sorted(raw["latencies"]) or [float("nan")]
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return {
        "concurrency": concurrency, "seconds": round(raw["elapsed"], 1), "requests_ok": raw["ok"],
        "requests_per_s": round(raw["ok"] / raw["elapsed"], 2), "tokens_per_s": round(raw["tokens"] / raw["elapsed"], 1),
        "p50_ms": round(pick(0.50) * 1000, 1), "p99_ms": round(pick(0.99) * 1000, 1),
        "errors": raw["5xx"] + raw["other_4xx"] + raw["transport_errors"], "n_429": raw["429"], "n_5xx": raw["5xx"],
        **memory.summary(),
    }


# -- mixed traffic ------------------------------------------------------------------------------------

def _mixed_body(kind: str, rng: random.Random, texts: int, docs: int, rerank_top: int) -> tuple[str, dict]:
    if kind == "embed":
        return "/v1/embeddings", {"input": [random_text(rng) for _ in range(texts)]}
    if kind == "rerank":
        return "/v1/rerank", {"query": " ".join(rng.sample(WORDS, 4)),
                              "documents": [random_text(rng) for _ in range(docs)]}
    if kind == "retrieve":
        return "/v1/retrieve", {"query": " ".join(rng.sample(WORDS, 4)), "top_k": 10, "rerank_top": rerank_top}
    return "/v1/embeddings", {"input": " ".join(rng.sample(WORDS, 6))}  # the one-text probe


def _new_counts() -> dict:
    return {"ok": 0, "tokens": 0, "429": 0, "5xx": 0, "other_4xx": 0, "transport_errors": 0, "latencies": []}


async def _mixed_client(http, url: str, kind: str, stop: asyncio.Event, rng: random.Random, out: dict,
                        opts: dict) -> None:
    while not stop.is_set():
        path, body = _mixed_body(kind, rng, **opts)
        start = time.perf_counter()
        try:
            r = await http.post(url + path, json=body)
        except httpx.HTTPError:
            out["transport_errors"] += 1
            continue
        if r.status_code == 200:
            out["latencies"].append(time.perf_counter() - start)
            out["ok"] += 1
            out["tokens"] += r.json().get("usage", {}).get("total_tokens", 0)
        elif r.status_code == 429:
            out["429"] += 1
            await asyncio.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))
        else:
            out["5xx" if r.status_code >= 500 else "other_4xx"] += 1


async def _mixed(url: str, mix: dict[str, int], seconds: float, baseline: int, api_key: str | None, seed: int,
                 opts: dict) -> tuple[dict, dict, float]:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    n = sum(mix.values()) + 1
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(headers=headers, timeout=300, limits=limits) as http:
        alone = _new_counts()
        rng = random.Random(seed)
        for _ in range(baseline):  # the probe alone, on an idle server
            path, body = _mixed_body("probe", rng, **opts)
            start = time.perf_counter()
            r = await http.post(url + path, json=body)
            r.raise_for_status()
            alone["latencies"].append(time.perf_counter() - start)
            alone["ok"] += 1
        outs = {kind: _new_counts() for kind in [*mix, "probe"]}
        stop = asyncio.Event()
        clients = [_mixed_client(http, url, kind, stop, random.Random(seed + 1000 * j + k), outs[kind], opts)
                   for j, (kind, count) in enumerate(mix.items()) for k in range(count)]
        clients.append(_mixed_client(http, url, "probe", stop, random.Random(seed - 1), outs["probe"], opts))
        start = time.monotonic()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await asyncio.gather(*clients)
        return alone, outs, time.monotonic() - start


def _summary(raw: dict, elapsed: float) -> dict:
    lat = sorted(raw["latencies"]) or [float("nan")]
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return {"requests_ok": raw["ok"], "requests_per_s": round(raw["ok"] / elapsed, 2),
            "p50_ms": round(pick(0.50) * 1000, 1), "p99_ms": round(pick(0.99) * 1000, 1), "n_429": raw["429"],
            "n_5xx": raw["5xx"], "errors": raw["5xx"] + raw["other_4xx"] + raw["transport_errors"]}


def run_mixed(url: str, mix: dict[str, int], seconds: float = 30.0, baseline: int = 30, texts: int = 4,
              docs: int = 50, rerank_top: int = 100, api_key: str | None = None, server_pid: int | None = None,
              seed: int = 0) -> dict:
    """Drive the server with mixed traffic plus a one-text probe; per-kind summaries (see the module docstring)."""
    opts = dict(texts=texts, docs=docs, rerank_top=rerank_top)
    with MemorySampler(server_pid) as memory:
        alone, outs, elapsed = asyncio.run(_mixed(url, mix, seconds, baseline, api_key, seed, opts))
    result = {"mix": mix, "seconds": round(elapsed, 1), "probe_alone": _summary(alone, elapsed),
              **{kind: _summary(raw, elapsed) for kind, raw in outs.items()}, **memory.summary()}
    result["probe_alone"].pop("requests_per_s")
    result["probe_p99_over_alone_p50"] = round(result["probe"]["p99_ms"] / result["probe_alone"]["p50_ms"], 2)
    return result
