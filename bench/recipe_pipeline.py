"""The paper's recipe on SciFact without an LLM, as a Table-5-shaped ablation over seeds.

    python -m bench.recipe_pipeline [--seeds 3] [--data DATA] [--work WORK] [--out DIR]
    python -m bench.recipe_pipeline --work NEW --reuse-from OLD   # only what the recipe changed
    python -m bench.recipe_pipeline --smoke          # tiny data, a few steps: checks the path (WORK/smoke)
    python -m bench.recipe_pipeline --report-only    # the table from the seeds finished so far

For each seed, ``q3embed pipeline run recipes/scifact-minilm-pipeline.yaml --seed N`` runs
weak pairs (``synth.weak: [title, first_sentence]``, a 2,000-pair subsample) -> filter (the cut
fitted to keep 90% of SciFact train's genuine pairs) -> stage 1 (the kept weak pairs, in-batch
negatives) -> stage 2 (SciFact train with the shipped recipe's loss and hard negatives, mined
here into ``<work>/mined_train.jsonl``; 3 epochs, a checkpoint at each epoch's end) -> stage 3
(the paper's multislerp of those 3 checkpoints, then the STS-dev guard: the feed-forward blocks
step back toward the base until STSB dev is within ``max_drop: 0.75`` of the base's), plus the
"w/o stage 1" run (stage 2 and stage 3 from the base model). Every model is evaluated on SciFact
test nDCG@10 and STSB test Spearman in fp32 through the embedding cache shared with
``merge_robustness.py``. The table reports mean +- std over the finished seeds and the CPU
seconds of each stage (``pipeline_state.json``'s ``costs``). ``--score-unguarded`` also scores
each merge as it was before the guard, as separate rows. (The recipe's ``stage2.runs`` and
``stage3.inputs: runs`` soup several stage-2 runs instead; measured, not shipped.)

Seeds after the first take its synth and filter outputs (they do not depend on the seed).
``--reuse-from OLD_WORK`` starts each seed from an earlier run's unchanged stages (synth,
filter, stage 1, and stage 2's first run if stage 2 is unchanged): only what the recipe
changed is computed.

Resumable at every level: the mined file is kept, the pipeline skips finished stages and
resumes training from checkpoints, evaluations reuse the cache. ``--out`` (default WORK/model)
receives seed 0's full model (stage 3), loadable by ``Embedder.load``; the table and its JSON go to
WORK/report, and with ``--save`` to bench/results/.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

from bench import harness
from bench.harness import REPO
from bench.scifact_common import Evaluator, SciFactData, mine, run_cli, smoke_data
from q3embed.pipeline.stages import STAGES

RECIPE = REPO / "recipes" / "scifact-minilm-pipeline.yaml"
ROWS = [("base", "base all-MiniLM-L6-v2 (no training)"), ("stage1", "stage 1 only (weak pairs)"),
        ("ablation unguarded", "without stage 1, merge without the guard"), ("ablation guard", None),
        ("ablation", "without stage 1 (stage 2 + merge from base)"), ("stage2", "without merge (stage 1 -> 2)"),
        ("stage3 unguarded", "full, merge without the guard"), ("stage3 guard", None),
        ("stage3", "full (stage 1 -> 2 -> merge)")]
#: ("<stage> guard", None) stands for every earlier guard's row of that stage (``guard_key``), kept by --redo-merges


def write_recipe(work: Path, data_root: Path, labelled: Path, cache: Path, smoke: bool) -> Path:
    """The shipped pipeline recipe with this run's paths (and, for --smoke, tiny sizes)."""
    raw = yaml.safe_load(RECIPE.read_text())
    raw["data_root"] = str(data_root)
    raw["stage2"]["labelled"] = str(labelled)
    raw["eval"]["cache_dir"] = str(cache)
    raw["device"] = "cpu"
    if smoke:
        raw["synth"]["n"] = 40
        raw["stage3"]["guard"]["max_drop"] = 0.0  # any STS dev loss steps back: the scoped step-back path runs
        for stage, steps in (("stage1", 2), ("stage2", 3)):
            train = raw[stage]["train"]
            train["batch_size"] = 4
            train["data"]["max_length"] = 32
            train["optim"]["max_steps"] = steps
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


STATE = "pipeline_state.json"
#: recipe sections whose outputs a later run may take over unchanged (stage 2's run count may grow)
REUSABLE = ("synth", "filter", "stage1", "eval")


def share_seed_independent(work: Path, seeds: list[int]) -> None:
    """Seeds after the first take its synth and filter outputs: neither depends on the seed.

    The weak pairs and the fitted cut come from the corpus and the base model alone; re-embedding
    the same pairs for every seed cost ~260 CPU-s each. Those seeds' tables show no synth or
    filter cost (it was paid once, by the first seed)."""
    first = work / f"seed{seeds[0]}" / STATE
    if not first.exists():
        return
    first_state = json.loads(first.read_text())
    done = first_state["stages"]
    if not {"synth", "filter"} <= set(done):
        return
    for s in seeds[1:]:
        state_path = work / f"seed{s}" / STATE
        state = json.loads(state_path.read_text()) if state_path.exists() else {"stages": {}, "evals": {}}
        if {"synth", "filter"} <= set(state["stages"]):
            continue
        state["stages"].update(synth=done["synth"], filter=done["filter"])
        # with their fingerprints: a stage recorded without one is refused as possibly stale
        state.setdefault("inputs", {}).update({k: v for k, v in first_state.get("inputs", {}).items()
                                               if k in ("synth", "filter")})
        state["shared"] = {"synth": f"seed{seeds[0]}", "filter": f"seed{seeds[0]}"}
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps(state, indent=2))


def reuse_runs(old: Path, work: Path, seeds: list[int], recipe: Path) -> None:
    """Start each seed from an earlier work dir's finished stages, where the recipe did not change them.

    Taken over: synth, filter and stage 1 (outputs, evaluations, costs). If stage 2's recipe is
    unchanged too (only ``stage2.runs`` or ``stage3`` differ), also stage 2's and the ablation's
    first run: their run folders are linked, so run 0 is not retrained, and the stage 2 row's
    evaluation is kept. Stage 3 and the ablation merge are always redone. Refuses (one line)
    when synth, filter, stage 1 or eval differ."""
    new_raw, old_raw = yaml.safe_load(recipe.read_text()), yaml.safe_load((old / "recipe.yaml").read_text())
    changed = [k for k in REUSABLE if new_raw.get(k) != old_raw.get(k)]
    if changed:
        sys.exit(f"--reuse-from {old}: the recipe changed {', '.join(changed)}; nothing to reuse")
    same_stage2 = all(new_raw["stage2"].get(k) == old_raw["stage2"].get(k) for k in ("train", "checkpoints", "synthetic"))
    same_stage2 &= Path(new_raw["stage2"]["labelled"]).read_bytes() == Path(old_raw["stage2"]["labelled"]).read_bytes()
    stages = ("synth", "filter", "stage1")              # outputs, evaluations and costs taken over
    runs = ("stage2", "ablation") if same_stage2 else ()  # run 0 linked and its cost kept; the stages redone
    evals = ("base", "stage1", *runs[:1])                 # the ablation's row is its merge: redone
    for s in seeds:
        dst = work / f"seed{s}"
        src = old / f"seed{s}" / STATE
        if (dst / STATE).exists() or not src.exists():
            continue
        st = json.loads(src.read_text())
        costs = {*stages, *runs, *(f"eval {e}" for e in evals)}
        state = {"stages": {k: st["stages"][k] for k in stages if k in st["stages"]},
                 "inputs": {k: v for k, v in st.get("inputs", {}).items() if k in stages},
                 "evals": {k: v for k, v in st["evals"].items() if k in evals},
                 "eval_inputs": {k: v for k, v in st.get("eval_inputs", {}).items() if k in evals},
                 "costs": {k: v for k, v in st.get("costs", {}).items() if k in costs},
                 "reused_from": str(old / f"seed{s}"), "reused": [*stages, *runs]}
        dst.mkdir(parents=True, exist_ok=True)
        for run in runs:
            if (old / f"seed{s}" / run).is_dir() and not (dst / run).exists():
                (dst / run).symlink_to(old / f"seed{s}" / run)
        (dst / STATE).write_text(json.dumps(state, indent=2))


def redo_merges(work: Path, seeds: list[int]) -> None:
    """Forget each seed's stage 3 and ablation merge, so a changed ``stage3`` is applied to the trained runs.

    Their evaluations are kept as the "unguarded" rows (when they had no guard); the training
    runs stay and resume as finished."""
    for s in seeds:
        path = work / f"seed{s}" / STATE
        if not path.exists():
            continue
        state = json.loads(path.read_text())
        for stage in ("stage3", "ablation"):
            done = state["stages"].pop(stage, None)
            ev = state["evals"].pop(stage, None)
            for part in ("inputs", "eval_inputs"):  # the redone merge records its own
                state.get(part, {}).pop(stage, None)
            if done is not None and ev is not None:
                if "guard" not in done:
                    state["evals"][f"{stage} unguarded"] = ev
                elif done["guard"]["t"] != 1.0:  # kept beside the redo with another guard
                    state["evals"][guard_key(stage, done["guard"])] = ev
        path.write_text(json.dumps(state, indent=2))


def guard_key(stage: str, guard: dict) -> str:
    """The state label of an earlier guard's evaluation: "stage3 guard ffn >= 86.22" (scope, STS dev budget)."""
    return f"{stage} guard {guard.get('scope') or 'every tensor'} >= {guard['budget']:.2f}"


def score_unguarded(work: Path, seeds: list[int], cache: Path, data: SciFactData) -> None:
    """Test scores of stage 3's and the ablation's merge BEFORE the guard, where the guard moved it.

    Seeds run with the guard from the start have no "unguarded" row; this scores the kept
    ``merged`` model (fp32, the pipeline's cache) into ``seedN/unguarded.json``, a file of its own
    so that a pipeline still running on that seed owns its state file alone."""
    ev = Evaluator(cache, data.scifact, data.sts_dev, data.sts_test)
    for s in seeds:
        path = work / f"seed{s}" / STATE
        if not path.exists():
            continue
        state, out = json.loads(path.read_text()), work / f"seed{s}" / "unguarded.json"
        have = json.loads(out.read_text()) if out.exists() else {}
        for stage in ("stage3", "ablation"):
            done, key = state["stages"].get(stage, {}), f"{stage} unguarded"
            if "guard" not in done or key in state["evals"] or key in have:
                continue
            if done["guard"]["t"] == 1.0 and stage in state["evals"]:  # the guard kept the merge itself
                have[key] = state["evals"][stage]
            else:
                r = ev.test(done["merged"])
                have[key] = {"scifact nDCG@10": r["scifact_ndcg_at_10"], "stsb-en-test Spearman": r["stsb_spearman"]}
            out.write_text(json.dumps(have, indent=2))
            print(f"seed {s} {key}: {have[key]}", flush=True)


def table_rows(states: dict) -> list[tuple[str, str]]:
    """ROWS, with each ("<stage> guard", None) replaced by the earlier guards' rows the states hold."""
    earlier = sorted({k for st in states.values() for k in st.get("evals", {}) if " guard " in k})
    rows = []
    for key, name in ROWS:
        if name is not None:
            rows.append((key, name))
            continue
        for k in earlier:
            if k.startswith(key + " "):
                stage = "full," if k.startswith("stage3") else "without stage 1,"
                rows.append((k, f"{stage} {k.split(' ', 1)[1]} (earlier guard)"))
    return rows


def tabulate(work: Path, seeds: list[int]) -> tuple[str, dict]:
    states = {}
    for s in seeds:
        f = work / f"seed{s}" / STATE
        if f.exists():
            states[s] = json.loads(f.read_text())
            extra = f.with_name("unguarded.json")
            if extra.exists():
                states[s]["evals"].update(json.loads(extra.read_text()))
    cols = ("scifact nDCG@10", "stsb-en-test Spearman")
    lines = ["| model | seeds | SciFact test nDCG@10 | STSB test Spearman | CPU-s of its own stage (mean) | eval CPU-s (mean) |",
             "|---|---:|---:|---:|---:|---:|"]
    summary = {}
    for key, name in table_rows(states):
        done = {s: st["evals"][key] for s, st in states.items() if key in st.get("evals", {})}
        if not done:
            if "unguarded" not in key:  # those rows exist only where a guard moved the merge
                lines.append(f"| {name} | 0 | – | – | – | – |")
            continue
        cells = []
        for c in cols:
            vals = [d[c] for d in done.values() if c in d]
            mean = statistics.fmean(vals)
            std = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{mean:.2f} ± {std:.2f}" if len(vals) > 1 else f"{mean:.2f}")
            summary.setdefault(key, {})[c] = {"mean": round(mean, 2), "std": round(std, 2), "values": vals}
        stage_cpu = [st.get("costs", {}).get(key, {}).get("cpu_s") for st in states.values()]
        eval_cpu = [st.get("costs", {}).get(f"eval {key}", {}).get("cpu_s") for st in states.values()]
        fmt = lambda xs: f"{statistics.fmean(x for x in xs if x is not None):.0f}" if any(x is not None for x in xs) else "–"
        lines.append(f"| {name} | {len(done)} | {cells[0]} | {cells[1]} | {fmt(stage_cpu)} | {fmt(eval_cpu)} |")
    costs = {s: st.get("costs", {}) for s, st in states.items()}
    per_stage = {stage: [c.get(stage, {}).get("cpu_s") for c in costs.values() if stage in c] for stage in STAGES}
    lines.append("")
    lines.append("CPU-s per stage, per seed: " + "; ".join(f"{k} {v}" for k, v in per_stage.items() if v))
    guard = {stage: [st["stages"][stage]["guard"]["t"] for st in states.values()
                     if "guard" in st["stages"].get(stage, {})] for stage in ("stage3", "ablation")}
    if any(guard.values()):
        lines.append("Guard t per seed (1 = the merge itself, within the STS dev budget): "
                     + "; ".join(f"{k} {v}" for k, v in guard.items()))
    return "\n".join(lines), {"seeds": sorted(states), "rows": summary, "costs": costs, "guard_t": guard}


def main() -> int:
    ap = harness.parser("recipe_pipeline", __doc__)
    ap.add_argument("--out", default=None, help="seed 0's full model is copied here (default WORK/model)")
    ap.add_argument("--cache-dir", default=None,
                    help="embedding cache (default WORK/cache; give merge_robustness the same one to share it)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    ap.add_argument("--reuse-from", default=None, help="an earlier --work whose unchanged stages (synth, filter, "
                    "stage 1, stage 2's first run) each seed takes over")
    ap.add_argument("--redo-merges", action="store_true", help="redo stage 3 and the ablation merge (after "
                    "changing stage3); earlier unguarded scores stay as their own rows")
    ap.add_argument("--score-unguarded", action="store_true", help="only score the merges the guard moved, "
                    "as they were before it (seedN/unguarded.json), then write the table")
    ap.add_argument("--smoke", action="store_true", help="tiny data and a few steps, under WORK/smoke with its own "
                    "cache; its table is never saved to bench/results")
    ap.add_argument("--report-only", action="store_true", help="only write the table from the seeds finished so far")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.smoke:  # tiny models' rows never reach the saved table or the shared cache
        args.work, args.cache_dir, args.save = args.work / "smoke", None, False
    harness.setup(args)
    work = args.work.resolve()
    args.cache_dir = args.cache_dir or str(work / "cache")
    args.out = args.out or str(work / "model")
    seeds = list(range(args.seeds))
    if args.score_unguarded:
        score_unguarded(work, seeds, Path(args.cache_dir).resolve(), SciFactData.from_args(args))
    elif not args.report_only:
        source = SciFactData.from_args(args)
        if args.smoke:
            beir, sts_dev, sts_test = smoke_data(work / "smoke-data", source)
            data_root = work / "smoke-data" / "root"
            (data_root / "stsb").mkdir(parents=True, exist_ok=True)
            if not (data_root / "scifact").exists():
                (data_root / "scifact").symlink_to(beir)
            shutil.copy(sts_test, data_root / "stsb" / "stsb-en-test.csv")
            shutil.copy(sts_dev, data_root / "stsb" / "stsb-en-dev.csv")  # the guard's STS dev
            data = beir
        else:
            data_root, data = Path(args.data).resolve(), source.scifact
        cache = Path(args.cache_dir).resolve()
        if args.reuse_from and not (work / "mined_train.jsonl").exists():  # the same hard negatives as the reused runs
            shutil.copy(Path(args.reuse_from) / "mined_train.jsonl", work / "mined_train.jsonl")
        labelled = mine(work / "mined_train.jsonl", data / "qrels" / "train.tsv", data, cache_dir=cache)
        recipe = write_recipe(work, data_root, labelled, cache, args.smoke)
        if args.reuse_from:
            reuse_runs(Path(args.reuse_from).resolve(), work, seeds, recipe)
        if args.redo_merges:
            redo_merges(work, seeds)
        for s in seeds:
            share_seed_independent(work, seeds)
            run_cli(["pipeline", "run", str(recipe), "--output-dir", str(work / f"seed{s}"), "--seed", str(s)])
        state = json.loads((work / "seed0" / STATE).read_text())
        final = Path(state["stages"]["stage3"]["model"])  # the guard's pick, or the merge itself
        dest = Path(args.out)
        if final.exists() and dest.resolve() != final.resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(final, dest)
            print(f"seed 0's full model copied to {dest}", flush=True)
    table, summary = tabulate(work, seeds)
    out = work / "report"
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe_pipeline.md").write_text(table + "\n")
    (out / "recipe_pipeline.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(table)
    harness.finish(args, {"seeds": len(summary["seeds"])}, dtype="float32",
                   rows=[{"row": k, **{c: v["mean"] for c, v in cols.items()}} for k, cols in summary["rows"].items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
