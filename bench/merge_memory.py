"""Peak memory of a streamed merge vs an in-memory one, on checkpoints >= 1 GB on disk.

Builds two random checkpoints in the Qwen3-Embedding-0.6B shape (bf16, ~1.2 GB each), then
merges them twice, each in a fresh child process that reports its own peak RSS
(``VmHWM``) and its RSS after imports (the baseline):

- q3embed: ``merge_checkpoints`` (slerp t=0.5, streamed, sharded output)
- in-memory: ``safetensors.torch.load_file`` both, ``slerp`` every tensor, ``save_file``
  (what a script without streaming does; the same slerp math)

and checks that both outputs agree tensor by tensor. Prints a markdown table and the ratio.

    python -m bench.merge_memory [--work WORK] [--keep]     # needs ~5 GB free in WORK
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import harness


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def peak_rss_mib() -> float:
    """VmHWM: the peak RSS of this process image. Not ru_maxrss, which on Linux carries over the
    parent's high-water mark through fork + exec (the parent here held the 0.6B models)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB -> MiB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(mode: str, a: str, b: str, out: str, block: int) -> None:
    import torch  # noqa: F401  (imported before the baseline, as both modes need it)
    from safetensors.torch import load_file, save_file

    from q3embed.merge import merge_checkpoints, slerp

    baseline = rss_mib()
    t0 = time.perf_counter()
    if mode == "stream":
        merge_checkpoints([a, b], out, method="slerp", t=0.5, shard_bytes=500 * 2**20, block_elements=block)
    else:
        sa, sb = load_file(Path(a) / "model.safetensors"), load_file(Path(b) / "model.safetensors")
        merged = {k: slerp(sa[k], sb[k], 0.5) for k in sa}
        Path(out).mkdir()
        save_file(merged, Path(out) / "model.safetensors", metadata={"format": "pt"})
    seconds = time.perf_counter() - t0
    peak = peak_rss_mib()
    print(json.dumps({"mode": mode, "baseline_mib": baseline, "peak_mib": peak, "seconds": seconds}))


def build(work: Path) -> tuple[Path, Path]:
    import torch

    from q3embed.model.tiny import save_tiny_qwen3

    a, b = work / "a", work / "b"
    for seed, d in ((0, a), (1, b)):
        if not (d / "model.safetensors").exists():
            print(f"building {d} (Qwen3-0.6B shape, bf16) ...", file=sys.stderr)
            save_tiny_qwen3(d, kind="embedding", shape="0.6B", seed=seed, dtype=torch.bfloat16,
                            tokenizer_dir=a if d == b else None)
    return a, b


def run_child(mode, a, b, out, block) -> dict:
    cmd = [sys.executable, "-m", "bench.merge_memory", "--child", mode, str(a), str(b), str(out), "--block", str(block)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=harness.REPO)
    return json.loads(res.stdout.strip().splitlines()[-1])


def agree(out_stream: Path, out_memory: Path) -> tuple[int, float]:
    """(tensors compared, largest |difference|) between the two merges."""
    from safetensors import safe_open

    from q3embed.merge.stream import read_checkpoint_index
    from q3embed.model.safetensors_file import read_rows

    streamed = read_checkpoint_index(out_stream)
    worst = 0.0
    with safe_open(out_memory / "model.safetensors", "pt") as f:
        for name in f.keys():
            diff = (read_rows(streamed[name]).float() - f.get_tensor(name).float()).abs().max().item()
            worst = max(worst, diff)
    return len(streamed), worst


def main() -> None:
    p = harness.parser("merge_memory", __doc__)
    p.add_argument("--block", type=int, default=1 << 22, help="elements per streamed block")
    p.add_argument("--keep", action="store_true", help="keep the checkpoints (default: delete everything)")
    p.add_argument("--modes", default="stream,memory", help="which merges to run (default stream,memory)")
    p.add_argument("--child", nargs=4, metavar=("MODE", "A", "B", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child, block=args.block)
        return
    harness.setup(args)
    work = args.work
    try:
        a, b = build(work)
        size = sum(f.stat().st_size for f in a.glob("*.safetensors"))
        results = {}
        for mode in args.modes.split(","):
            out = work / f"out-{mode}"
            shutil.rmtree(out, ignore_errors=True)
            print(f"merging ({mode}) ...", file=sys.stderr)
            results[mode] = run_child(mode, a, b, out, args.block)
        if len(results) < 2:
            print(json.dumps(results, indent=1))
            return
        n, worst = agree(work / "out-stream", work / "out-memory")
        print(f"\ninput checkpoint: {size / 2**30:.2f} GiB on disk (each of 2); block = {args.block} elements; "
              f"cpus: {os.cpu_count()}\n")
        print("| merge | peak RSS (MiB) | RSS after imports (MiB) | peak - baseline (MiB) | peak / one input | time (s) |")
        print("|---|---:|---:|---:|---:|---:|")
        for mode, r in results.items():
            name = "q3embed streamed" if mode == "stream" else "in-memory (load_file + slerp + save_file)"
            print(f"| {name} | {r['peak_mib']:.0f} | {r['baseline_mib']:.0f} | {r['peak_mib'] - r['baseline_mib']:.0f} | "
                  f"{r['peak_mib'] * 2**20 / size:.2f} | {r['seconds']:.1f} |")
        s, m = results["stream"], results["memory"]
        print(f"\nextra memory, in-memory / streamed: {(m['peak_mib'] - m['baseline_mib']) / (s['peak_mib'] - s['baseline_mib']):.1f}x")
        print(f"outputs agree: {n} tensors, largest |difference| {worst:.3g}")
        harness.finish(args, {"extra memory in-memory / streamed": round(
            (m["peak_mib"] - m["baseline_mib"]) / (s["peak_mib"] - s["baseline_mib"]), 1),
            "input GiB": round(size / 2 ** 30, 2), "largest |difference|": worst}, dtype="bfloat16",
            rows=[{"merge": k, **v} for k, v in results.items()])
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
