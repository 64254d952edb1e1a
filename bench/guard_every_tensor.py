"""Test scores of the whole-model guard at the shipped budget (max_drop 0.75), for the pipeline's seeds.

    PYTHONPATH=src python bench/guard_every_tensor.py [--work /work/runs/merge17/pipeline-3ep] [--seeds 3]

Separates the guard scope's effect from the budget's. The every-tensor guard models (``guard-t*``)
were made by the earlier recipe (every tensor, max_drop 0.5), and their STS dev grid is in each seed's
``pipeline_state.before-ffn.json`` (the state saved before ``recipe_pipeline.py --redo-merges``).
This takes the t that the guard's rule picks at ``--max-drop`` from that grid, and scores the kept
model on SciFact test and STSB test (fp32). It chooses nothing: the recipe was fixed before it ran.
Rows go to ``{work}/every_tensor_guard.jsonl``; a rerun skips them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scifact_common import Evaluator, Results, sts_dev


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/work/runs/merge17/pipeline-3ep", help="bench/recipe_pipeline.py's --work")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (those with a saved earlier state)")
    ap.add_argument("--max-drop", type=float, default=0.75, help="the budget whose pick is scored")
    ap.add_argument("--cache-dir", default="/work/runs/merge17/cache", help="embedding cache (shared across benches)")
    args = ap.parse_args()
    from q3embed.model.resolve import resolve_model_path

    work = Path(args.work)
    ev, res = Evaluator(Path(args.cache_dir)), Results(work / "every_tensor_guard.jsonl")
    budget = sts_dev(resolve_model_path("minilm")) - args.max_drop  # the guard's own budget rule
    for s in range(args.seeds):
        saved = work / f"seed{s}" / "pipeline_state.before-ffn.json"
        grid = json.loads(saved.read_text())["stages"]["stage3"]["guard"]["sts_dev"]
        t = max(float(k) for k, v in grid.items() if v >= budget)
        path = work / f"seed{s}" / "stage3" / ("merged" if t == 1.0 else f"guard-t{t:g}")
        record = json.loads((path / "q3embed_merge.json").read_text())
        if t != 1.0 and (record["method"], record["t"]) != ("slerp", t):
            print(f"{path} is not the every-tensor slerp at t={t:g} ({record['method']}, t={record['t']})", file=sys.stderr)
            return 1
        row = res.once("test", f"seed{s} every tensor max_drop {args.max_drop:g}", lambda p=path: ev.test(p),
                       path=str(path), t=t, sts_dev=grid[str(t) if t != 1.0 else "1.0"])
        print(f"seed {s}: t={t:g}, SciFact {row['scifact_ndcg_at_10']:.2f}, STSB {row['stsb_spearman']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
