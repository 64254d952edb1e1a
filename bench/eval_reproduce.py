"""Reproduce the published MTEB scores of all-MiniLM-L6-v2 on ../shared/data (REFERENCE.md).

    python bench/eval_reproduce.py [--cache-dir DIR]

Prints STSBenchmark cosine Spearman and SciFact nDCG@10 (x100) next to the published
numbers (82.03, 64.51). Corpus vectors are cached, so a second run only re-scores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from q3embed import Embedder
from q3embed.eval import evaluate_retrieval, evaluate_sts

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
PUBLISHED = {"STSBenchmark": 82.03, "SciFact": 64.51}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache-dir", default=None, help="embedding cache directory")
    ap.add_argument("--data", default=str(DATA), help="folder holding stsb/ and scifact/")
    args = ap.parse_args()
    data = Path(args.data)
    emb = Embedder.load("minilm", device="cpu", dtype="float32")
    print(emb, "max_length", emb.max_length, flush=True)
    for name, run in [
        ("STSBenchmark", lambda: evaluate_sts(emb, data / "stsb" / "stsb-en-test.csv", cache_dir=args.cache_dir,
                                              show_progress=True)),
        ("SciFact", lambda: evaluate_retrieval(emb, data / "scifact", split="test", cache_dir=args.cache_dir,
                                               show_progress=True)),
    ]:
        t0 = time.perf_counter()
        res = run()
        got = 100 * res["main_score"]
        print(json.dumps({k: v for k, v in res.items() if k != "run"}), flush=True)
        print(f"{name}: {got:.2f} (published {PUBLISHED[name]:.2f}, diff {got - PUBLISHED[name]:+.3f}) "
              f"in {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
