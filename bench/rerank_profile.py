"""Where q3embed's reranker spends its time on the 1 x 100 setting of rerank_throughput.py (issue 16).

Same random 0.6B-shape checkpoint, the same 100 (query, document) pairs, Reranker.load defaults,
one thread; prints the tokens actually computed (each query's shared prompt once) and torch.profiler's
top operators by self CPU time.

    cd bench && python rerank_profile.py --cache /work/wt/bench16/bench/.cache
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from engine_common import DEFAULT_CACHE, lognormal_lengths, make_texts, model_dir
from rerank_throughput import load_queries


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--docs", type=int, default=100)
    args = p.parse_args()
    torch.set_num_threads(1)
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoTokenizer

    from q3embed import Reranker
    from q3embed.runtime.packing import common_prefix_length

    path = model_dir(args.cache, "reranker")
    tok = AutoTokenizer.from_pretrained(path)
    docs = make_texts(tok, lognormal_lengths(args.docs, 16, 128, seed=3, median=48), None)  # rerank_throughput's 1 x N
    pairs = [(load_queries(1, None)[0], d) for d in docs]
    rr = Reranker.load(path)
    ids = rr.prepare(pairs)
    shared = common_prefix_length(ids)
    total = sum(map(len, ids))
    computed = total - (len(ids) - 1) * shared
    print(f"prompt tokens {total}, shared prefix {shared}, tokens q3embed computes {computed}; dtype {rr.dtype}")
    rr.score_pairs(pairs[:2])  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        c = time.process_time()
        rr.score_pairs(pairs)
        c = time.process_time() - c
    print(f"CPU s under the profiler {c:.1f}; GFLOP/CPU s on computed tokens (linear layers only) "
          f"{computed * 2 * 0.44e9 / c / 1e9:.0f}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18, max_name_column_width=60))


if __name__ == "__main__":
    main()
