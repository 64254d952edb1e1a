"""max |dP| and top-10 agreement between the reranker scores that rerank_throughput.py --save-scores wrote.

    cd bench && python compare_scores.py results/rerank_peers_*.npz --ref 1x100:c_fp32
"""

from __future__ import annotations

import argparse

import numpy as np


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help=".npz files (keys <queries>x<docs>:<peer>)")
    p.add_argument("--ref", default="1x100:c_fp32", help="the key to compare every other score with")
    args = p.parse_args()
    scores = {}
    for f in args.files:
        scores.update(dict(np.load(f)))
    if args.ref not in scores:
        raise SystemExit(f"--ref {args.ref!r} is in none of the files; keys found: {', '.join(sorted(scores))}")
    ref = scores[args.ref]

    def top(v):
        return list(np.argsort(-v, kind="stable")[:10])

    print(f"P(yes) of {args.ref}: min {ref.min():.4f} max {ref.max():.4f} std {ref.std():.4f}")
    for key, v in scores.items():
        d = np.abs(v - ref)
        print(f"{key:22s} max |dP| {d.max():.2e}  mean {d.mean():.2e}  same top-10 {top(v) == top(ref)}  "
              f"top-10 overlap {len(set(top(v)) & set(top(ref)))}")


if __name__ == "__main__":
    main()
