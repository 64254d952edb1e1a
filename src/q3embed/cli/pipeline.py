from __future__ import annotations

from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "pipeline", run, "run the three-stage recipe: synth -> filter -> train -> fine-tune -> merge",
                 "q3embed pipeline run RECIPE.yaml\n\n"
                 "Stages (the Qwen3 Embedding paper): synthesise pairs with an LLM, cosine-filter them,\n"
                 "stage 1 weakly supervised training on the synthetic pairs, stage 2 SFT on labelled plus\n"
                 "filtered synthetic pairs (several checkpoints), stage 3 slerp-merge of those checkpoints;\n"
                 "evaluation after every stage, then a table shaped like the paper's ablation.\n"
                 "Rerun the same command to resume: finished stages are skipped. See recipes/three_stage.yaml.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = actions.add_parser("run", help="run (or resume) a recipe", description="Run or resume a recipe YAML.")
    r.add_argument("recipe", help="recipe YAML (e.g. recipes/three_stage.yaml)")
    r.add_argument("--output-dir", default=None, help="override the recipe's output_dir")
    r.add_argument("--data-root", default=None,
                   help="folder the recipe's ${data_root} paths point into (default: the recipe's data_root, else data)")
    r.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: the recipe's, else best available)")
    r.add_argument("--seed", type=int, default=None, help="seed of every training stage (overrides the recipe's seed)")
    r.add_argument("--stop-after", default=None, help="stop after this stage: synth, filter, stage1, stage2, stage3, ablation")


def run(args) -> int:
    import sys

    from ..pipeline.recipe import Pipeline
    from ..pipeline.config import load_recipe

    overrides = {k: v for k, v in (("output_dir", args.output_dir), ("device", args.device),
                                   ("data_root", args.data_root), ("seed", args.seed)) if v is not None}
    cfg = load_recipe(args.recipe, overrides)
    table = Pipeline(cfg, log=lambda m: print(m, file=sys.stderr), show_progress=True).run(args.stop_after)
    print(table)
    return 0
