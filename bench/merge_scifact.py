"""Merge checkpoints of the SciFact fine-tuning run and measure SciFact test nDCG@10 of each.

    python bench/merge_scifact.py --checkpoints runs/scifact-minilm/full/checkpoint-8 \\
        runs/scifact-minilm/full/checkpoint-16 runs/scifact-minilm/full/checkpoint-24 \\
        --cache-dir runs/scifact-minilm/cache --dtype bfloat16 --work runs/merge-scifact

Evaluates, in this order (so that an interrupted run still has the most telling rows):
each checkpoint alone; multislerp of all; slerp t=0.5 of the last two; linear average of
all; slerp t=0.5 of the first and last (with two checkpoints: just their slerp); then, with
``--base``, the base model and slerp(base, last checkpoint).
Every result is appended to ``{work}/results.jsonl`` as it arrives; rows already there are
not re-run. Uses the evaluator's embedding cache, so checkpoints already evaluated with the
same dtype and cache directory cost nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DATA = Path("/work/shared/data/scifact")
if not DATA.is_dir():
    DATA = (Path(__file__).resolve().parents[1] / "../shared/data/scifact").resolve()


def plan(checkpoints: list[str], base: str | None) -> list[dict]:
    name = lambda p: Path(p).name  # noqa: E731
    rows = [{"label": name(c), "inputs": [c], "method": None} for c in checkpoints]
    if len(checkpoints) == 1:  # nothing to merge yet: evaluate (and cache) the checkpoint
        return rows
    last_two = {"label": f"slerp t=0.5 {name(checkpoints[-2])} , {name(checkpoints[-1])}",
                "inputs": checkpoints[-2:], "method": "slerp", "t": 0.5}
    if len(checkpoints) == 2:
        rows.append(last_two)
    else:
        all_ = " + ".join(map(name, checkpoints))
        rows += [{"label": f"multislerp {all_}", "inputs": checkpoints, "method": "multislerp"}, last_two,
                 {"label": f"linear {all_}", "inputs": checkpoints, "method": "linear"},
                 {"label": f"slerp t=0.5 {name(checkpoints[0])} , {name(checkpoints[-1])}",
                  "inputs": [checkpoints[0], checkpoints[-1]], "method": "slerp", "t": 0.5}]
    if base:
        rows.append({"label": "base all-MiniLM-L6-v2", "inputs": [base], "method": None})
        rows.append({"label": f"slerp t=0.5 base , {name(checkpoints[-1])}", "inputs": [base, checkpoints[-1]],
                     "method": "slerp", "t": 0.5})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", required=True)
    ap.add_argument("--base", default=None, help="also evaluate the base model and base/last slerp (e.g. minilm)")
    ap.add_argument("--cache-dir", default="runs/scifact-minilm/cache")
    ap.add_argument("--dtype", default="bfloat16", help="evaluation dtype (the training bench's default: bfloat16)")
    ap.add_argument("--work", default="runs/merge-scifact")
    ap.add_argument("--pick", default=None, help="comma-separated row numbers of the plan to run (to split the work "
                                                 "over two processes); default all")
    args = ap.parse_args()

    from q3embed.merge import merge_checkpoints
    from q3embed.merge.search import evaluator
    from q3embed.model.resolve import resolve_model_path

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    log = work / "results.jsonl"
    done = {json.loads(x)["label"] for x in log.read_text().splitlines()} if log.exists() else set()
    evaluate = evaluator("retrieval", DATA, dtype=args.dtype, batch_size=32, cache_dir=args.cache_dir)
    base = str(resolve_model_path(args.base)) if args.base else None
    picked = {int(i) for i in args.pick.split(",")} if args.pick else None
    for i, row in enumerate(plan(args.checkpoints, base)):
        if row["label"] in done or (picked is not None and i not in picked):
            continue
        path = Path(row["inputs"][0])
        merge_s = 0.0
        if row["method"]:
            path = work / f"{i:02d}-{row['method']}"
            t0 = time.perf_counter()
            merge = merge_checkpoints(row["inputs"], path, method=row["method"], t=row.get("t", 0.5), overwrite=True)
            merge_s = time.perf_counter() - t0
            row["colinear_tensors"] = len(merge.colinear)
        t0 = time.perf_counter()
        scores = evaluate(path)
        row.update(ndcg_at_10=scores["ndcg_at_10"], recall_at_100=scores.get("recall_at_100"),
                   merge_seconds=round(merge_s, 1), eval_seconds=round(time.perf_counter() - t0, 1), dtype=args.dtype)
        with open(log, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"{row['label']}: nDCG@10 {100 * row['ndcg_at_10']:.2f}  (eval {row['eval_seconds']}s)", flush=True)
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    print("\n| model | SciFact test nDCG@10 | Recall@100 | eval (s) |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['label']} | {100 * r['ndcg_at_10']:.2f} | {100 * (r['recall_at_100'] or 0):.2f} | {r['eval_seconds']} |")


if __name__ == "__main__":
    main()
