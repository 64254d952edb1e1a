"""Does one heavy request stall the others? Probe latency while it runs, on a live `q3embed serve`.

    python bench/request_bounds.py [--probes-alone 20]

Starts `q3embed serve` (the small random Qwen3 model of bench/server_batching.py) and measures a
one-text /v1/embeddings probe: alone, then while each heavy request below runs, probing in a
loop from another thread:
  amplification  a 200k-character instruction with 256 one-letter inputs (issue 13: it blocked
                 every /v1/embeddings call for 31.5 s)
  big-accepted   256 inputs with a 2,000-character instruction each (512k characters, 100k
                 tokens): accepted, so its tokenizing and its forward passes run
Prints the heavy request's status and time, and the probes' median and max latency during it.
Run against another checkout with PYTHONPATH=<other>/src to compare (the server inherits it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_batching import build_model, start_server  # noqa: E402

HEAVY = {
    "amplification": {"input": ["a"] * 256, "instruction": "x" * 200_000},
    "big-accepted": {"input": ["a"] * 256, "instruction": "word " * 400},
}


def probe(client: httpx.Client, url: str) -> float:
    t = time.perf_counter()
    r = client.post(url + "/v1/embeddings", json={"input": "one short probe text"})
    if r.status_code != 200:
        raise RuntimeError(f"probe got HTTP {r.status_code}: {r.text[:300]}")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes-alone", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "model")
        proc, url = start_server(model, batching=True, extra=[])
        try:
            with httpx.Client(timeout=600) as c:
                for _ in range(3):
                    probe(c, url)  # warm up
                alone = [probe(c, url) for _ in range(args.probes_alone)]
            print(f"probe alone: median {statistics.median(alone) * 1e3:.0f} ms, max {max(alone) * 1e3:.0f} ms")
            for name, body in HEAVY.items():
                during: list[float] = []
                done = threading.Event()

                def probing():
                    with httpx.Client(timeout=600) as pc:
                        while not done.is_set():
                            during.append(probe(pc, url))

                t = threading.Thread(target=probing)
                t.start()
                time.sleep(0.3)
                start = time.perf_counter()
                with httpx.Client(timeout=600) as hc:
                    r = hc.post(url + "/v1/embeddings", json=body)
                took = time.perf_counter() - start
                done.set()
                t.join()
                code = r.json().get("error", {}).get("code", "") if r.status_code != 200 else ""
                print(f"{name}: HTTP {r.status_code} {code} in {took:.2f} s; probes during it: n={len(during)}, "
                      f"median {statistics.median(during) * 1e3:.0f} ms, max {max(during) * 1e3:.0f} ms")
        finally:
            proc.terminate()
            proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
