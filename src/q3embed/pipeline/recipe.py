"""``q3embed pipeline run``: synthesise -> filter -> stage 1 -> stage 2 -> stage 3 (merge), with
an evaluation after every stage and a table in the shape of the paper's ablation.

Each stage is a function of the run (``state.Run``) that returns its outputs: ``synthesis.synth``,
``synthesis.cosine_filter``, ``training.stage1``, ``training.stage2``, ``merging.stage3`` and
``merging.ablation``. This module runs them in order. A stage records its outputs in
``<output_dir>/pipeline_state.json`` when it completes, so a rerun skips finished stages;
unfinished ones resume on their own terms (synth from its append-only store, training from its
newest checkpoint, merge writes atomically). A stage whose recipe keys or inputs changed since it
started is never skipped or resumed as if it were current (``fingerprint``): the run is refused,
or with ``rerun`` the stage starts over.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .config import RecipeConfig, RecipeError, stage_train_config
from .evaluation import ROWS, ablation_table, evaluate
from .fingerprint import base_fingerprint, changed_keys, stage_inputs
from .merging import ablation, check_guard_scope, stage3
from .stages import STAGES
from .state import STATE_FILE, Run, RunState
from .synthesis import cosine_filter, synth
from .training import stage1, stage2

log = logging.getLogger(__name__)

TABLE_FILE = "ablation.md"
STAGE_FUNCTIONS = {"synth": synth, "filter": cosine_filter, "stage1": stage1, "stage2": stage2,
                   "stage3": stage3, "ablation": ablation}


def run_recipe(cfg: RecipeConfig, stop_after: str | None = None, rerun: bool = False,
               show_progress: bool = False) -> str:
    """Run (or resume) the recipe up to ``stop_after``; the ablation table (also in ``ablation.md``)."""
    if stop_after is not None and stop_after not in STAGES:
        raise RecipeError(f"stop_after must be one of {', '.join(STAGES)}, got {stop_after!r}")
    names = [n for n in STAGES if n != "ablation" or cfg.ablation]
    if stop_after in names:
        names = names[:names.index(stop_after) + 1]
    run = open_run(cfg, show_progress)
    preflight(run)
    refuse_or_reset_changed(run, names, rerun)
    check_llm(run)
    run.out.mkdir(parents=True, exist_ok=True)
    made = model_fingerprints(run)
    evaluate(run, "base", cfg.base_model, made["base"])
    for name in names:
        if name in run.state.stages:
            log.info(f"== {name}: done earlier, skipped ({STATE_FILE})")
        else:
            log.info(f"== {name}")
            run.state.inputs[name] = run.inputs[name].record()  # before the work: a killed stage resumes only as itself
            run.state.save()
            with run.state.cost(name):
                run.state.stages[name] = STAGE_FUNCTIONS[name](run)
        if name in dict(ROWS):
            evaluate(run, name, run.outputs(name)["model"], made[name])
    table = ablation_table(run, made)
    (run.out / TABLE_FILE).write_text(table + "\n")
    return table


def open_run(cfg: RecipeConfig, show_progress: bool = False) -> Run:
    """The recipe with its record (empty for a new output folder) and each stage's inputs."""
    def train_keys(stage: str) -> dict:
        return stage_train_config(cfg, stage, cfg.base_model, "-", Path(cfg.output_dir) / stage).model_dump(mode="json")

    return Run(cfg, RunState(Path(cfg.output_dir)), stage_inputs(cfg, train_keys), show_progress)


def model_fingerprints(run: Run) -> dict[str, str]:
    """Each table row's model fingerprint: the base model's, and each stage's."""
    return {"base": base_fingerprint(run.cfg), **{n: i.fingerprint for n, i in run.inputs.items()}}


def preflight(run: Run) -> None:
    """Input files and eval data, before the first stage runs (the recipe's keys, training sections
    included, were checked when it was read)."""
    cfg = run.cfg
    for task in cfg.eval.retrieval:
        _need_path(task.data_dir, "eval.retrieval data_dir")
    for task in cfg.eval.sts:
        _need_path(task.path, "eval.sts path")
    _need_path(cfg.stage2.labelled, "stage2.labelled")
    if cfg.stage3.guard is not None:
        _need_path(cfg.stage3.guard.sts_dev, "stage3.guard.sts_dev")
        check_guard_scope(run)
    if cfg.synthetic_pairs:
        _need_path(cfg.synthetic_pairs, "synthetic_pairs")


def check_llm(run: Run) -> None:
    """The corpus and the LLM endpoint, when the synth stage has work to do."""
    if run.cfg.synthetic_pairs or "synth" in run.state.stages:
        return
    from ..data.corpus import read_corpus
    from ..synth.client import ChatClient

    s = run.cfg.synth
    read_corpus(s.corpus)  # an empty or malformed corpus fails here
    if s.weak is None:
        with ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key) as client:
            client.check()  # unreachable endpoint or unknown model: before the base-model eval


def refuse_or_reset_changed(run: Run, names: list[str], rerun: bool) -> None:
    """Stages recorded (finished or started) from other inputs than the recipe's now.

    Without ``rerun`` they are refused in one line that names the changed keys; with it, their
    outputs are removed so that they, and the stages after them that read those outputs, run
    again instead of resuming from work made for another recipe."""
    state = run.state
    stale = [n for n in names if (n in state.stages or n in state.inputs)
             and state.inputs.get(n, {}).get("fingerprint") != run.inputs[n].fingerprint]
    if not stale:
        return
    if not rerun:
        why = []
        for n in stale:
            why += [w for w in changed_keys(state.inputs.get(n), run.inputs[n]) if w not in why]
        raise RecipeError(f"the recipe changed since stages {', '.join(stale)} ran in {run.out} "
                          f"({'; '.join(why) or 'their inputs changed'}); rerun with --rerun to run those "
                          f"stages again (their earlier outputs are replaced), or restore the recipe")
    for n in stale:
        log.info(f"== {n}: the recipe changed ({'; '.join(changed_keys(state.inputs.get(n), run.inputs[n]))}), "
                 f"running it again")
        for path in stage_paths(run, n):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for part in (state.stages, state.inputs, state.costs):
            part.pop(n, None)
    state.save()


def stage_paths(run: Run, name: str) -> list[Path]:
    """What a stage writes, removed before it runs again for a changed recipe."""
    o = run.out
    runs = [p for p in o.glob(f"{name}-run*") if p.name.removeprefix(f"{name}-run").isdigit()]
    return {
        "synth": [o / "data" / "synthetic.jsonl"] + ([o / run.cfg.synth.out] if run.cfg.synth else []),
        "filter": [o / "filter"],
        "stage1": [o / "stage1"],
        "stage2": [o / "stage2", o / "data" / "stage2.jsonl", *runs],
        "stage3": [o / "stage3"],
        "ablation": [o / "ablation", o / "data" / "labelled_only.jsonl", *runs],
    }[name]


def _need_path(value: str | None, what: str) -> None:
    if not value or not Path(value).exists():
        raise RecipeError(f"{what}: {value} does not exist")
