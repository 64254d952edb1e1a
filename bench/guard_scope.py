"""Which tensors should the stage-3 guard step back toward the base? Chosen on validation.

    python bench/guard_scope.py [--model /work/runs/merge17/sweep/3-epochs/final] [--max-drop 0.5 0.75] [--threads 1]
    python bench/guard_scope.py --report-only

The pipeline's guard (``stage3.guard``) takes slerp(base -> model, t) for the largest t whose
STSB dev Spearman is within ``max_drop`` of the base's. Stepping EVERY tensor back (WiSE-FT) costs
in-domain quality along with the STS drop; if the drop lives in some blocks and the in-domain gain
in others, stepping back only those blocks costs less. This bench, on the stage-2 sweep's chosen
3-epoch model (seed 0, trained on 80% of SciFact train, so that the other 20% validates):
- maps STS dev over t = 1.0 ... 0.0 for each scope: every tensor, "ffn" (the feed-forward blocks),
  "attention" (``merge.schedule.NAMED_SCOPES``). Dev data only, seconds per point;
- applies the guard's rule per scope (the largest t within ``--max-drop``; a scope with none is out);
- scores each scope's pick, and each scope's full revert (t = 0, a probe that chooses nothing), on
  validation: the 162 held-out train queries against all 5,183 documents.
Rule, fixed before the picks were scored: the scope whose pick has the highest validation nDCG@10.
Test data is never read. Rows go to ``{work}/results.jsonl`` as they finish; a rerun skips them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scifact_common import (
    Evaluator,
    Results,
    run_unless_report_only,
    sts_dev,
    write_table,
)

SCOPES = {"every tensor": None, "ffn": "ffn", "attention": "attention"}
GRID = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)


def variant(work: Path, base: str, model: str, scope: str | None, t: float) -> str:
    """slerp(base -> model, t) on ``scope``'s tensors (the rest as ``model``); t = 1 is ``model`` itself."""
    from q3embed.merge import merge_checkpoints
    from q3embed.merge.checkpoints import holds_merge
    from q3embed.merge.schedule import scoped_t

    if t == 1.0:
        return model
    out, spec = work / f"{scope or 'all'}-t{t:g}", scoped_t(scope, t)
    if not holds_merge(out, "slerp", [base, model], spec):
        merge_checkpoints([base, model], out, method="slerp", t=spec, overwrite=True)
    return str(out)


def run(args) -> None:
    from q3embed.model.resolve import resolve_model_path

    work, model = Path(args.work), str(Path(args.model).resolve())
    base = str(resolve_model_path("minilm"))
    res = Results(work / "results.jsonl")
    ev = Evaluator(Path(args.cache_dir), val_data=Path(args.val_data), val_split="train-val")
    res.once("dev", "base", lambda: {"sts_dev": sts_dev(base)})
    for name, scope in SCOPES.items():
        for t in GRID:
            res.once("dev", f"{name} t={t:g}", lambda s=scope, t=t: {"sts_dev": sts_dev(variant(work, base, model, s, t))},
                     scope=name, t=t)
    for name, scope in SCOPES.items():
        picks = [(guard_pick(res, name, drop), "pick") for drop in args.max_drop]
        for t, role in (*picks, (0.0, "probe")):
            if t is not None and (scope is not None or t > 0.0):  # every tensor at t = 0 is the base itself
                res.once("val", f"{name} t={t:g}", lambda s=scope, t=t: ev.validation(variant(work, base, model, s, t)),
                         scope=name, t=t, role=role)


def guard_pick(res: Results, scope: str, max_drop: float) -> float | None:
    """The guard's rule (``stage3.guard``): the largest t whose STS dev is within ``max_drop`` of the base's."""
    budget = res.get("dev", "base")["sts_dev"] - max_drop
    within = [r["t"] for r in res.rows() if r["kind"] == "dev" and r.get("scope") == scope and r["sts_dev"] >= budget]
    return max(within) if within else None


def report(work: Path, out: Path, max_drops: list[float]) -> str:
    res = Results(work / "results.jsonl")
    rows = res.rows()
    dev = {r["label"]: r["sts_dev"] for r in rows if r["kind"] == "dev"}
    val = {r["label"]: r for r in rows if r["kind"] == "val"}
    if "base" not in dev:
        return "No rows yet.\n"
    cell = lambda r, k: f"{r[k]:.2f}" if r else "–"
    lines = [f"STS dev Spearman of slerp(base -> model, t) per scope (base {dev['base']:.2f}):", "",
             "| scope | " + " | ".join(f"t={t:g}" for t in GRID) + " |", "|---|" + "---:|" * len(GRID)]
    for name in SCOPES:
        lines.append(f"| {name} | " + " | ".join(f"{dev.get(f'{name} t={t:g}', float('nan')):.2f}" for t in GRID) + " |")
    for drop in max_drops:
        picks = {name: guard_pick(res, name, drop) for name in SCOPES}
        lines += ["", f"max_drop {drop:g} (STS dev >= {dev['base'] - drop:.2f}):", "",
                  "| scope | the guard's t | val nDCG@10 at that t | STS dev | full revert (t=0): val nDCG@10 | STS dev |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, t in picks.items():
            p, z = val.get(f"{name} t={t:g}") if t is not None else None, val.get(f"{name} t=0")
            lines.append(f"| {name} | {'none within budget' if t is None else f'{t:g}'} | {cell(p, 'val_ndcg_at_10')} | "
                         f"{cell(p, 'sts_dev_spearman')} | {cell(z, 'val_ndcg_at_10')} | {cell(z, 'sts_dev_spearman')} |")
        scored = {n: val[f"{n} t={t:g}"]["val_ndcg_at_10"] for n, t in picks.items()
                  if t is not None and f"{n} t={t:g}" in val}
        if scored:
            chosen = max(scored, key=scored.get)
            lines += ["", (f"Rule: the scope whose pick scores the highest validation nDCG@10; chosen: **{chosen}** "
                           f"({', '.join(f'{k} {v:.2f}' for k, v in scored.items())}).")]
    return write_table(lines, out, "guard_scope.md")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="/work/runs/merge17/sweep/3-epochs/final",
                    help="the fine-tuned model (bench/stage2_sweep.py's 3-epoch candidate, seed 0, 80%% split)")
    ap.add_argument("--work", default="/work/runs/merge17/guard-scope", help="merges and results.jsonl")
    ap.add_argument("--val-data", default="/work/runs/merge17/robustness-fullval/val-data",
                    help="the validation BEIR folder (merge_robustness.py --val-corpus-docs full)")
    ap.add_argument("--cache-dir", default="/work/runs/merge17/cache", help="embedding cache (shared across benches)")
    ap.add_argument("--max-drop", type=float, nargs="+", default=[0.5, 0.75],
                    help="the guard's STS dev budgets below the base (x100); each gets its picks scored")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"), help="where the table goes")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the table from results.jsonl")
    args = ap.parse_args()
    run_unless_report_only(args, lambda: run(args))
    print(report(Path(args.work), Path(args.results), args.max_drop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
