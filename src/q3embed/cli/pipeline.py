from __future__ import annotations

from ..pipeline.stages import STAGES
from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "pipeline", run, "run the three-stage recipe: synth -> filter -> train -> fine-tune -> merge",
                 "q3embed pipeline run RECIPE.yaml\n\n"
                 "Stages (the Qwen3 Embedding paper): synthesise pairs with an LLM (or, with synth.weak,\n"
                 "cut weak pairs from the corpus itself: no LLM), cosine-filter them, stage 1 weakly\n"
                 "supervised training on those pairs, stage 2 SFT on labelled (plus filtered synthetic)\n"
                 "pairs with several checkpoints, stage 3 slerp/multislerp merge of those checkpoints, with\n"
                 "an optional STS-dev guard (stage3.guard) that steps the merge back toward the base;\n"
                 "evaluation after every stage, then a table shaped like the paper's ablation.\n"
                 "Rerun the same command to resume: finished stages are skipped; after a recipe edit that\n"
                 "changes a finished stage, the run is refused unless --rerun. Recipes:\n"
                 "recipes/three_stage.yaml (LLM pairs), recipes/scifact-minilm-pipeline.yaml (weak pairs,\n"
                 "MiniLM on SciFact; bench/recipe_pipeline.py runs it over seeds). Docs: docs/synth.md.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = actions.add_parser("run", help="run (or resume) a recipe", description="Run or resume a recipe YAML.")
    r.add_argument("recipe", help="recipe YAML (e.g. recipes/three_stage.yaml)")
    r.add_argument("--output-dir", default=None, help="override the recipe's output_dir")
    r.add_argument("--data-root", default=None,
                   help="folder the recipe's ${data_root} paths point into (default: the recipe's data_root, else data)")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the recipe's, else best available)")
    r.add_argument("--seed", type=int, default=None, help="seed of every training stage (overrides the recipe's seed)")
    r.add_argument("--rerun", action="store_true",
                   help="run again the stages whose recipe keys or input files changed since they ran, and the "
                        "stages that read their outputs (their earlier outputs are replaced); without it such a "
                        "run is refused, naming the changed keys")
    r.add_argument("--stop-after", default=None, choices=STAGES, metavar="STAGE",
                   help="stop after this stage: " + ", ".join(STAGES))


def run(args) -> int:
    from ..pipeline.config import load_recipe
    from ..pipeline.recipe import run_recipe

    overrides = {k: v for k, v in (("output_dir", args.output_dir), ("device", args.device),
                                   ("data_root", args.data_root), ("seed", args.seed)) if v is not None}
    cfg = load_recipe(args.recipe, overrides)
    table = run_recipe(cfg, stop_after=args.stop_after, rerun=args.rerun, show_progress=True)
    print(table)
    return 0
