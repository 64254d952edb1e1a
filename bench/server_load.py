"""Load generator for a running q3embed server: K concurrent clients for T seconds.

    python bench/server_load.py --url http://127.0.0.1:8000 --concurrency 8 --seconds 20 [--server-pid PID]

Each client sends /v1/embeddings requests back to back (``--texts`` random texts of 8..64 words
each). The run stops after ``--seconds`` or ``--max-requests``, whichever comes first. It
reports requests/s, tokens/s (the server's usage counts), p50/p99 latency of answered (200)
requests, errors, 429s and
5xx, and, given the server's pid, its resident memory at the start, peak and end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--seconds", type=float, default=20.0, help="run time (default 20)")
    p.add_argument("--max-requests", type=int, default=100_000, help="stop after this many requests")
    p.add_argument("--texts", type=int, default=4, help="texts per request (default 4)")
    p.add_argument("--api-key", default=None)
    p.add_argument("--server-pid", type=int, default=None, help="sample this process's memory (psutil)")
    args = p.parse_args()
    print(json.dumps(run_load(args.url, args.concurrency, args.seconds, args.texts, args.max_requests, args.api_key,
                              args.server_pid)))


if __name__ == "__main__":
    main()
