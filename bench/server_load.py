"""A live `q3embed serve` under concurrent clients: dynamic batching on vs off, and mixed traffic.

    python -m bench.server_load batching [--concurrency 1 8 16] [--seconds 10] [--rounds 2]
    python -m bench.server_load mixed --mix embed=2,rerank=2,retrieve=4 [--seconds 30]
    python -m bench.server_load url --url http://127.0.0.1:8000 [--concurrency 8] [--server-pid PID]

``batching`` starts `q3embed serve` twice on localhost (once with --no-batching), drives them in
turn (on, off, on, off, ...) at each concurrency with bench/server_clients.py's clients, and prints
the ratio batched / unbatched requests/s (p50: median of the runs' p50s; p99: the worst run's).
``mixed`` serves an embedder, a reranker and an index, sends embed/rerank/retrieve clients at once
plus a one-text embedding probe, and reports the probe's p99 under load over its p50 alone.
``url`` drives a server that is already running with embedding clients.

Without ``--model`` the models are small random Qwen3s (genuine vocabulary; hidden 256, 4 layers),
built once in --work, so the forward pass, not HTTP, dominates. Absolute numbers on a shared CPU
are noisy; compare the ratios, measured in one run.
"""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench import harness
from bench.server_clients import random_text, run_load, run_mixed

SMALL_SHAPE = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=64)


def build_model(out: Path, kind: str = "embedding") -> Path:
    from q3embed.model.tiny import save_tiny_qwen3

    if (out / "config.json").exists():
        return out
    return save_tiny_qwen3(out, kind=kind, seed=0 if kind == "embedding" else 1, **SMALL_SHAPE)


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
            raise SystemExit(f"server did not start: {' '.join(cmd)}")
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


def batching(args) -> tuple[dict, list[dict]]:
    model = Path(args.model) if args.model else build_model(args.work / "embedder")
    servers: dict[bool, tuple[subprocess.Popen, str]] = {}
    runs: dict[tuple[bool, int], list[dict]] = {}
    try:
        for on in (True, False):
            servers[on] = start_server(model, on, args.server_arg)
        for on, (proc, url) in servers.items():
            run_load(url, concurrency=4, seconds=2, texts=args.texts)  # warm-up
        # Alternate on/off runs, so that a change in the machine's load hits both modes alike.
        for k in args.concurrency:
            for _ in range(args.rounds):
                for on, (proc, url) in servers.items():
                    r = run_load(url, concurrency=k, seconds=args.seconds, texts=args.texts, server_pid=proc.pid)
                    runs.setdefault((on, k), []).append(r)
                    print(("on " if on else "off"), r, flush=True)
    finally:
        for proc, _ in servers.values():
            stop_server(proc)
    merged = {key: merge_runs(rs) for key, rs in runs.items()}
    rows = [{"concurrency": k, "batching": "on" if on else "off", **merged[(on, k)]}
            for k in args.concurrency for on in (True, False)]
    print("\n" + harness.markdown_table(rows))
    figures = {}
    for k in args.concurrency:
        on, off = merged[(True, k)]["requests_per_s"], merged[(False, k)]["requests_per_s"]
        figures[f"req/s batched / unbatched at concurrency {k}"] = round(harness.ratio(on, off), 2) if off else "n/a"
    return figures, rows


def mixed(args) -> tuple[dict, list[dict]]:
    from q3embed import Embedder, Index

    mix = _parse_mix(args.mix)
    emb = Path(args.model) if args.model else build_model(args.work / "embedder")
    rer = Path(args.reranker) if args.reranker else build_model(args.work / "reranker", kind="reranker")
    index = args.work / f"index-{args.index_docs}"
    if not index.exists():
        rng = random.Random(7)
        docs = [{"id": f"d{i}", "text": random_text(rng)} for i in range(args.index_docs)]
        Index.build(index, docs, Embedder.load(emb, device="cpu"))
    proc, url = start_server(emb, True, ["--reranker", str(rer), "--index", str(index), *args.server_arg])
    opts = dict(texts=args.texts, docs=args.docs, rerank_top=args.rerank_top)
    try:
        run_mixed(url, {"retrieve": 1, "rerank": 1}, seconds=3, baseline=5, **opts)  # warm-up
        result = run_mixed(url, mix, seconds=args.seconds, baseline=args.baseline, server_pid=proc.pid, **opts)
    finally:
        stop_server(proc)
    print(json.dumps(result))
    rows = [{"kind": kind, **{k: v for k, v in result[kind].items()}} for kind in ("probe_alone", "probe", *mix)
            if kind in result]
    return {"probe p99 under load / probe p50 alone": result["probe_p99_over_alone_p50"],
            "5xx": sum(result[k].get("n_5xx", 0) for k in ("probe", *mix) if k in result)}, rows


def attach(args) -> tuple[dict, list[dict]]:
    r = run_load(args.url, args.concurrency, args.seconds, args.texts, args.max_requests, args.api_key, args.server_pid)
    print(json.dumps(r))
    return {"requests_per_s": r["requests_per_s"], "p99_ms": r["p99_ms"], "5xx": r["n_5xx"]}, [r]


def _parse_mix(text: str) -> dict[str, int]:
    mix = {}
    for part in text.split(","):
        kind, _, count = part.partition("=")
        if kind not in ("embed", "rerank", "retrieve") or not count.isdigit():
            raise SystemExit(f"--mix: expected kind=count with kind in embed, rerank, retrieve; got {part!r}")
        mix[kind] = int(count)
    return mix


def main() -> None:
    p = harness.parser("server_load", __doc__, threads=2)  # the server gets both cores, as `serve` would
    p.add_argument("mode", choices=["batching", "mixed", "url"], help="what to measure (see above)")
    p.add_argument("--model", default=None, help="embedding checkpoint (default: a small random Qwen3 in --work)")
    p.add_argument("--reranker", default=None, help="reranker checkpoint for mixed (default: a small random Qwen3)")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 16], help="clients (batching; url: the first)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per run (default 10)")
    p.add_argument("--rounds", type=int, default=2, help="alternating on/off runs per concurrency (default 2)")
    p.add_argument("--texts", type=int, default=4, help="texts per embedding request (default 4)")
    p.add_argument("--mix", default="embed=2,rerank=2,retrieve=4", help="mixed: clients per kind")
    p.add_argument("--docs", type=int, default=50, help="documents per rerank request (mixed; default 50)")
    p.add_argument("--rerank-top", type=int, default=100, help="rerank_top of each retrieve (mixed; default 100)")
    p.add_argument("--baseline", type=int, default=30, help="probes on the idle server first (mixed; default 30)")
    p.add_argument("--index-docs", type=int, default=2000, help="documents in the mixed index (default 2000)")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="url: the running server")
    p.add_argument("--max-requests", type=int, default=100_000, help="url: stop after this many requests")
    p.add_argument("--api-key", default=None, help="url: the server's API key")
    p.add_argument("--server-pid", type=int, default=None, help="url: sample this process's memory (psutil)")
    p.add_argument("--server-arg", action="append", default=[], help="extra `q3embed serve` argument (repeatable)")
    args = harness.setup(p.parse_args())
    if args.mode == "url":
        args.concurrency = args.concurrency[0]
    figures, rows = {"batching": batching, "mixed": mixed, "url": attach}[args.mode](args)
    harness.finish(args, figures, dtype="float32", rows=rows)


if __name__ == "__main__":
    main()
