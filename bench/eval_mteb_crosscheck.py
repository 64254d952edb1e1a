"""Cross-check: mteb's own evaluators (via q3embed's adapter and local tasks) on ../shared/data.

    python bench/eval_mteb_crosscheck.py [--cache-dir DIR]

Runs all-MiniLM-L6-v2 through ``mteb.evaluate`` on SciFact and STSBenchmark loaded from local
files and prints mteb's scores next to q3embed's. With the cache that ``q3embed eval`` filled,
no document is embedded again, so both score the very same vectors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mteb

from q3embed import Embedder
from q3embed.eval import evaluate_retrieval, evaluate_sts
from q3embed.eval.mteb_adapter import mteb_model
from q3embed.eval.mteb_local import local_retrieval_task, local_sts_task

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    emb = Embedder.load("minilm", device="cpu", dtype="float32")
    tasks = [local_retrieval_task(DATA / "scifact", name="SciFactLocal"),
             local_sts_task(DATA / "stsb" / "stsb-en-test.csv", name="STSBenchmarkLocal")]
    result = mteb.evaluate(mteb_model(emb, cache_dir=args.cache_dir), tasks, cache=None, show_progress_bar=False)
    scores = {r.task_name: r.scores["test"][0] for r in result.task_results}
    ours_r = evaluate_retrieval(emb, DATA / "scifact", cache_dir=args.cache_dir)
    ours_s = evaluate_sts(emb, DATA / "stsb" / "stsb-en-test.csv", cache_dir=args.cache_dir)
    print("| metric | mteb | q3embed |\n|---|---:|---:|")
    for name in ("ndcg_at_10", "map_at_100", "recall_at_100", "mrr_at_10", "precision_at_10"):
        print(f"| SciFact {name} | {100 * scores['SciFactLocal'][name]:.3f} | {100 * ours_r[name]:.3f} |")
    print(f"| STSBenchmark cosine_spearman | {100 * scores['STSBenchmarkLocal']['cosine_spearman']:.3f} "
          f"| {100 * ours_s['cosine_spearman']:.3f} |")


if __name__ == "__main__":
    main()
