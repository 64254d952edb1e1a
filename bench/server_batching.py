"""Dynamic batching on vs off: throughput of a live `q3embed serve` under concurrent clients.

    python bench/server_batching.py [--model DIR] [--concurrency 1 8 16] [--seconds 10] [--rounds 2]

Starts `q3embed serve` twice on localhost (once with --no-batching), drives them in turn
(on, off, on, off, ...) with bench/server_load.py's clients at each concurrency, and prints a
table with the ratio batched / unbatched requests/s (p50: median of the runs' p50s; p99: the
worst run's). Without --model it builds a small random Qwen3 embedding
model (genuine vocabulary; hidden 256, 4 layers), so the forward pass, not HTTP, dominates.
Absolute numbers on a shared CPU are noisy; compare the ratio, measured in one run.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server_load import run_load  # noqa: E402

SMALL_SHAPE = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=64)


def build_model(out: Path) -> Path:
    from q3embed.model.tiny import save_tiny_qwen3

    return save_tiny_qwen3(out, kind="embedding", seed=0, **SMALL_SHAPE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, batching: bool, extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from q3embed.cli import main; sys.exit(main())", "serve",
           "--model", str(model), "--port", str(port), "--device", "cpu", "--log-level", "warning", *extra]
    if not batching:
        cmd.append("--no-batching")
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(url + "/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"server did not start: {' '.join(cmd)}")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def merge_runs(runs: list[dict]) -> dict:
    """One row for several runs: rates from the summed counts and times, worst-case latency and memory."""
    seconds = sum(r["seconds"] for r in runs)
    ok = sum(r["requests_ok"] for r in runs)
    tokens = sum(r["tokens_per_s"] * r["seconds"] for r in runs)
    return {
        "requests_per_s": round(ok / seconds, 2), "tokens_per_s": round(tokens / seconds, 1),
        "p50_ms": round(sorted(r["p50_ms"] for r in runs)[len(runs) // 2], 1), "p99_ms": max(r["p99_ms"] for r in runs),
        "errors": sum(r["errors"] for r in runs), "n_429": sum(r["n_429"] for r in runs),
        "n_5xx": sum(r["n_5xx"] for r in runs), "rss_start_mib": runs[0].get("rss_start_mib"),
        "rss_peak_mib": max(r.get("rss_peak_mib", 0) for r in runs), "rss_end_mib": runs[-1].get("rss_end_mib"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="embedding checkpoint (default: build a small random Qwen3)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16])
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per run")
    p.add_argument("--rounds", type=int, default=2, help="alternating on/off runs per concurrency (default 2)")
    p.add_argument("--texts", type=int, default=4, help="texts per request")
    p.add_argument("--server-arg", action="append", default=[], help="extra `q3embed serve` argument (repeatable)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else build_model(Path(tmp) / "model")
        servers: dict[bool, tuple[subprocess.Popen, str]] = {}
        runs: dict[tuple[bool, int], list[dict]] = {}
        try:
            for batching in (True, False):
                servers[batching] = start_server(model, batching, args.server_arg)
            for batching, (proc, url) in servers.items():
                run_load(url, concurrency=4, seconds=2, texts=args.texts)  # warm-up
            # Alternate on/off runs, so that a change in the machine's load hits both modes alike.
            for k in args.concurrency:
                for _ in range(args.rounds):
                    for batching, (proc, url) in servers.items():
                        r = run_load(url, concurrency=k, seconds=args.seconds, texts=args.texts, server_pid=proc.pid)
                        runs.setdefault((batching, k), []).append(r)
                        print(("on " if batching else "off"), r, flush=True)
        finally:
            for proc, _ in servers.values():
                stop_server(proc)
        rows = {key: merge_runs(rs) for key, rs in runs.items()}

    print("\n| concurrency | batching | req/s | tokens/s | p50 ms | p99 ms | errors | 429s | 5xx | RSS start/peak/end MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for k in args.concurrency:
        for batching in (True, False):
            r = rows[(batching, k)]
            print(f"| {k} | {'on' if batching else 'off'} | {r['requests_per_s']} | {r['tokens_per_s']} | {r['p50_ms']} | "
                  f"{r['p99_ms']} | {r['errors']} | {r['n_429']} | {r['n_5xx']} | "
                  f"{r.get('rss_start_mib')}/{r.get('rss_peak_mib')}/{r.get('rss_end_mib')} |")
    print("\n| concurrency | throughput ratio batched / unbatched |")
    print("|---|---|")
    for k in args.concurrency:
        on, off = rows[(True, k)]["requests_per_s"], rows[(False, k)]["requests_per_s"]
        print(f"| {k} | {on / off:.2f}x |" if off else f"| {k} | n/a |")


if __name__ == "__main__":
    main()
