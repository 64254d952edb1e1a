"""The one harness every benchmark shares: flags, data and work folders, thread pinning, timing, the stamp, results.

Run a benchmark from the repository root, with the package installed (``pip install -e .``):

    python -m bench.<name> --data DATA --work WORK [--threads N] [--save]

* ``--data``: the evaluation-data folder, laid out as ``q3embed data fetch scifact stsb`` writes it
  (``DATA/scifact``, ``DATA/stsb``). Default: ``$Q3EMBED_DATA``, else ``data/`` in the repository.
* ``--work``: where a benchmark keeps what it builds (random 0.6B-shape checkpoints, indexes, runs).
  Default: ``bench/scratch/<benchmark>`` (git-ignored). Delete it to start over.
* ``--threads``: intra-op threads of torch, BLAS and OpenMP, pinned before any work (default 1: on a
  shared CPU one thread per process keeps the ratios between peers steady).
* ``--save``: also write ``bench/results/<benchmark>-<date>.{json,md}`` with the stamp below.

A benchmark compares q3embed with its peers in one process and reports ratios, because absolute
times on shared machines move with the load; the stamp records what the figures were measured on.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


# ---------------------------------------------------------------- folders and flags

def default_data() -> Path:
    """``$Q3EMBED_DATA`` if set, else the folder ``q3embed data fetch`` writes when run from the repository root."""
    env = os.environ.get("Q3EMBED_DATA")
    return Path(env) if env else REPO / "data"


def default_work(name: str) -> Path:
    return REPO / "bench" / "scratch" / name


def parser(name: str, description: str, *, threads: int = 1) -> argparse.ArgumentParser:
    """An argument parser with the flags every benchmark takes; add the benchmark's own flags to it."""
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=default_data(),
                   help="evaluation-data folder as `q3embed data fetch` writes it (default: $Q3EMBED_DATA, else data/)")
    p.add_argument("--work", type=Path, default=default_work(name),
                   help=f"folder for models, indexes and runs this benchmark builds (default: bench/scratch/{name})")
    p.add_argument("--threads", type=int, default=threads, help=f"intra-op threads (default {threads})")
    p.add_argument("--save", action="store_true",
                   help=f"write bench/results/{name}-<date>.json and .md with the machine stamp")
    p.set_defaults(bench_name=name)
    return p


def setup(args: argparse.Namespace) -> argparse.Namespace:
    """Pin threads and create the work folder; call right after ``parse_args``."""
    pin_threads(args.threads)
    args.work = Path(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    return args


def data_path(args: argparse.Namespace, name: str, *, required: bool = True) -> Path | None:
    """``DATA/name`` (``scifact``, ``stsb``); a missing required set exits with one line saying how to get it."""
    path = Path(args.data) / name
    if path.is_dir():
        return path
    if required:
        raise SystemExit(f"{name} not found in {args.data}: run `q3embed data fetch {name}` from the repository "
                         f"root, or pass --data (or set Q3EMBED_DATA) to a folder holding {name}/")
    return None


# ---------------------------------------------------------------- threads

def pin_threads(n: int) -> None:
    """Intra-op threads for torch and every BLAS/OpenMP pool already loaded or loaded later."""
    if n < 1:
        raise SystemExit(f"--threads must be at least 1, got {n}")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)  # child processes and pools loaded after this
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass


# ---------------------------------------------------------------- timing

def percentile(xs: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) with linear interpolation between order statistics."""
    if not xs:
        raise ValueError("percentile of no samples")
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(xs: Sequence[float]) -> dict[str, float]:
    """n, mean, p50, p90, p99 and max of latency-like samples."""
    return {"n": len(xs), "mean": statistics.fmean(xs), "p50": percentile(xs, 50), "p90": percentile(xs, 90),
            "p99": percentile(xs, 99), "max": max(xs)}


def ratio(peer: float, ours: float) -> float:
    """How many times faster q3embed is, from two durations (peer / ours); > 1 means q3embed is faster."""
    return peer / ours if ours else float("inf")


@dataclass
class Timing:
    wall: float  # seconds
    cpu: float  # seconds of this process' CPU time (all its threads)


def timed(fn: Callable[[], object], *, repeat: int = 1, warmup: int = 0,
          sync: Callable[[], None] | None = None) -> Timing:
    """The fastest of ``repeat`` runs of ``fn()`` after ``warmup`` unmeasured ones.

    CPU time is reported beside wall time: with one intra-op thread on a shared CPU, a process'
    CPU time does not depend on how much of the machine others take, so CPU-time ratios are the
    steadier comparison there. Pass ``sync`` (e.g. ``torch.cuda.synchronize``) on a GPU.
    """
    for _ in range(warmup):
        fn()
    best = Timing(float("inf"), float("inf"))
    for _ in range(repeat):
        if sync:
            sync()
        t, c = time.perf_counter(), time.process_time()
        fn()
        if sync:
            sync()
        now = Timing(time.perf_counter() - t, time.process_time() - c)
        if now.wall < best.wall:
            best = now
    return best


def samples(fn: Callable[[], object], n: int, *, warmup: int = 1) -> list[float]:
    """Wall seconds of each of ``n`` calls of ``fn()`` after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


# ---------------------------------------------------------------- the stamp and the results files

def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def stamp(*, dtype: str, threads: int, device: str = "cpu") -> dict:
    """What a figure was measured on: machine, device, dtype, threads, versions, commit and date."""
    machine = {"cpu": _cpu_model(), "cores": os.cpu_count()}
    versions = {"python": platform.python_version()}
    try:
        import torch

        versions["torch"] = torch.__version__
        if device.startswith("cuda") and torch.cuda.is_available():
            machine["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"machine": machine, "device": device, "dtype": dtype, "threads": threads, "versions": versions,
            "commit": _git_commit(), "date": _dt.date.today().isoformat()}


def stamp_line(st: dict) -> str:
    m = st["machine"]
    where = m.get("gpu") or f"{m['cpu']} ({m['cores']} cores)"
    return (f"{where}, {st['device']}, {st['dtype']}, {st['threads']} thread(s), torch {st['versions'].get('torch', '-')}, "
            f"commit {st['commit']}, {st['date']}")


def markdown_table(rows: Iterable[dict], columns: Sequence[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return ""
    columns = list(columns or rows[0].keys())

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_result(name: str, st: dict, figures: dict, *, command: str, rows: list[dict] | None = None,
                 out_dir: Path = RESULTS) -> tuple[Path, Path]:
    """``<out_dir>/<name>-<date>.json`` and ``.md``: the stamp, the command, the figures (and a table of rows)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"{name}-{st['date']}"
    record = {"benchmark": name, "command": command, "stamp": st, "figures": figures, "rows": rows or []}
    base.with_suffix(".json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    md = [f"# {name}", "", f"- command: `{command}`", f"- measured on: {stamp_line(st)}", ""]
    md += [f"- {k}: {v:.4g}" if isinstance(v, float) else f"- {k}: {v}" for k, v in figures.items()]
    if rows:
        md += ["", markdown_table(rows)]
    base.with_suffix(".md").write_text("\n".join(md) + "\n")
    return base.with_suffix(".json"), base.with_suffix(".md")


def _portable(arg: str, args: argparse.Namespace) -> str:
    """A command-line argument as a results file may show it: no path of this machine."""
    for name in ("data", "work"):
        if arg == str(getattr(args, name, "")) and Path(arg).is_absolute():
            return name.upper()
    if arg.startswith(str(REPO) + os.sep):
        return os.path.relpath(arg, REPO)
    return arg


def finish(args: argparse.Namespace, figures: dict, *, dtype: str, rows: list[dict] | None = None,
           device: str = "cpu", argv: Sequence[str] | None = None) -> dict:
    """Print the figures with the stamp; with ``--save`` also write them to bench/results/."""
    import sys

    st = stamp(dtype=dtype, threads=args.threads, device=device)
    command = "python -m bench." + args.bench_name + " " + " ".join(
        _portable(a, args) for a in (argv if argv is not None else sys.argv[1:]))
    print(f"\nmeasured on: {stamp_line(st)}")
    for k, v in figures.items():
        print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    if getattr(args, "save", False):
        for path in write_result(args.bench_name, st, figures, command=command.strip(), rows=rows):
            print(f"wrote {path.relative_to(REPO)}")
    return st
