"""Fine-tune all-MiniLM-L6-v2 on SciFact train and measure SciFact test nDCG@10, with an ablation.

    python -m bench.scifact_finetune [--data DATA] [--work WORK] [--out DIR] [--variants full,inbatch,hardneg]
    python -m bench.scifact_finetune --smoke        # tiny SciFact and STSB subsets, 2 steps: the path (WORK/smoke)

1. ``q3embed mine`` hard negatives for the 809 train queries (ranks 5-50, 7 per query);
2. base model nDCG@10 on SciFact test (``q3embed.eval.evaluate_retrieval``);
3. train each loss variant with ``recipes/scifact-minilm.yaml``:
   - ``inbatch``: plain in-batch InfoNCE (q_i against the other rows' positives), no mask;
   - ``hardneg``: plus 2 mined hard negatives per query (and the other rows' negatives in-batch);
   - ``full``: the paper's Z_i (plus in-batch query-query and document-document) with the
     false-negative mask; it also keeps checkpoints every 8 steps;
4. evaluate every final model (and the full run's checkpoints), copy the full model to ``--out``
   (default WORK/model).

Every stage is skipped when its output exists, so a killed run continues where it stopped.
Results accumulate in ``{work}/results.jsonl``.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from bench import harness
from bench.scifact_common import SciFactData, smoke_data
from bench.scifact_common import mine as mine_negatives
from bench.scifact_common import train as train_recipe

BASE_NDCG_PUBLISHED = 64.51

VARIANTS = {
    "inbatch": ["loss.hard_negatives=false", "loss.in_batch_queries=false", "loss.in_batch_doc_doc=false",
                "loss.false_negative_mask=false", "save_every=0"],
    "hardneg": ["loss.hard_negatives=true", "loss.in_batch_queries=false", "loss.in_batch_doc_doc=false",
                "loss.false_negative_mask=false", "save_every=0"],
    "full": [],
}


def mine(work: Path, data: Path, dtype: str) -> Path:
    return mine_negatives(work / "mined_train.jsonl", data / "qrels" / "train.tsv", data, dtype=dtype,
                          cache_dir=work / "cache")


def done_results(path: Path) -> dict[tuple[str, str], dict]:
    if not path.exists():
        return {}
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {(r["variant"], r["checkpoint"]): r for r in rows}


def evaluate(model_dir: str, work: Path, data: Path, dtype: str) -> tuple[float, float]:
    from q3embed import Embedder
    from q3embed.eval import evaluate_retrieval

    t0 = time.perf_counter()
    emb = Embedder.load(model_dir, device="cpu", dtype=dtype)
    res = evaluate_retrieval(emb, data, split="test", cache_dir=work / "cache", batch_size=32)
    return 100.0 * res["ndcg_at_10"], time.perf_counter() - t0


def record(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps(row), flush=True)


def train(variant: str, work: Path, train_file: Path, extra: list[str]) -> Path:
    out = work / variant
    train_recipe(out, train_file, [*VARIANTS[variant], *extra])
    return out


def main() -> int:
    ap = harness.parser("scifact_finetune", __doc__)
    ap.add_argument("--out", default=None, help="where the final (full-loss) model is saved (default WORK/model)")
    ap.add_argument("--variants", default="full,inbatch,hardneg", help="comma-separated subset of full,inbatch,hardneg")
    ap.add_argument("--eval-dtype", default="bfloat16",
                    help="dtype for evaluation encodes (bfloat16 is ~1.8x faster on CPU; float32 is the MTEB setting)")
    ap.add_argument("--smoke", action="store_true", help="tiny data, 2 training steps, under WORK/smoke (checks the path)")
    args = ap.parse_args()
    if args.smoke:  # tiny data: its numbers are never saved to bench/results
        args.work, args.save = args.work / "smoke", False
    harness.setup(args)
    work = args.work.resolve()
    args.out = args.out or str(work / "model")
    data = SciFactData.from_args(args).scifact
    extra = []
    if args.smoke:
        data = smoke_data(work / "smoke-data", SciFactData.from_args(args))[0]
        extra = ["optim.max_steps=2", "batch_size=4", "save_every=1", "data.max_length=32"]
    results = work / "results.jsonl"
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            ap.error(f"unknown variant {v!r}; accepted: {', '.join(VARIANTS)}")

    train_file = mine(work, data, args.eval_dtype)
    done = done_results(results)
    if ("base", "minilm") not in done:
        ndcg, sec = evaluate("minilm", work, data, args.eval_dtype)
        record(results, {"variant": "base", "checkpoint": "minilm", "ndcg_at_10": round(ndcg, 2),
                         "eval_dtype": args.eval_dtype, "seconds": round(sec, 1)})

    for v in variants:
        out = train(v, work, train_file, extra)
        final = out / "final"
        if (v, str(final)) not in done_results(results):
            ndcg, sec = evaluate(str(final), work, data, args.eval_dtype)
            record(results, {"variant": v, "checkpoint": str(final), "ndcg_at_10": round(ndcg, 2),
                             "eval_dtype": args.eval_dtype, "seconds": round(sec, 1)})
    if "full" in variants:  # the intermediate checkpoints, for checkpoint merging (slerp)
        ckpts = sorted((work / "full").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        for ck in ckpts[:-1]:
            if ("full", str(ck)) not in done_results(results):
                ndcg, sec = evaluate(str(ck), work, data, args.eval_dtype)
                record(results, {"variant": "full", "checkpoint": str(ck), "ndcg_at_10": round(ndcg, 2),
                                 "eval_dtype": args.eval_dtype, "seconds": round(sec, 1)})
        dest = Path(args.out)
        if dest.resolve() != (work / "full" / "final").resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(work / "full" / "final", dest)

    rows = done_results(results)
    base = rows.get(("base", "minilm"), {}).get("ndcg_at_10")
    print(f"\nSciFact test nDCG@10 (eval dtype {args.eval_dtype}); published base {BASE_NDCG_PUBLISHED}")
    print("| variant | checkpoint | nDCG@10 | vs base |\n|---|---|---|---|")
    for (v, ck), r in rows.items():
        delta = f"{r['ndcg_at_10'] - base:+.2f}" if base is not None and v != "base" else ""
        print(f"| {v} | {ck} | {r['ndcg_at_10']:.2f} | {delta} |")
    if "full" in variants:
        final = rows.get(("full", str(work / "full" / "final")))
        if final:
            print(f"\nfinal model saved to {args.out}: SciFact test nDCG@10 = {final['ndcg_at_10']:.2f}")
    finals = {v: r["ndcg_at_10"] for (v, ck), r in rows.items() if v == "base" or ck.endswith("final")}
    harness.finish(args, {f"SciFact test nDCG@10, {v}": x for v, x in finals.items()}, dtype=args.eval_dtype)
    return 0


if __name__ == "__main__":
    sys.exit(main())
