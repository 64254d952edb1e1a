"""Stage 3 and the ablation: merge stage 2's checkpoints (or runs), then, with ``stage3.guard``,
step the merge back toward the base model (``merge.guard``) while its STS dev score drops too much."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import RecipeError
from .state import Run
from .training import stage2_data, train_runs

log = logging.getLogger(__name__)


def stage3(run: Run) -> dict:
    """The merge of stage 2's outputs, guarded: {"model", and with a guard "merged" and "guard"}."""
    merged = merge(run, merge_inputs(run, run.outputs("stage2")), run.out / "stage3" / "merged")
    return guard(run, merged, run.out / "stage3")


def ablation(run: Run) -> dict:
    """"w/o synthetic data": stage 2 and 3 from the base model on the labelled pairs alone."""
    data = stage2_data(run, with_synthetic=False)
    runs = train_runs(run, "ablation", run.cfg.base_model, data)
    merged = merge(run, merge_inputs(run, runs), run.out / "ablation" / "merged")
    return {**runs, **guard(run, merged, run.out / "ablation")}


def merge_inputs(run: Run, stage: dict) -> list[str]:
    return stage["runs"] if run.cfg.stage3.inputs == "runs" else stage["checkpoints"]


def merge(run: Run, checkpoints: list[str], out: Path) -> str:
    """``stage3.method`` over ``checkpoints`` into ``out``; a finished identical merge is kept (and so
    are its cached embeddings)."""
    from ..merge.checkpoints import merge_unless_held

    method, what = run.cfg.stage3.method, run.cfg.stage3.inputs
    if method == "slerp" and len(checkpoints) > 2:
        method = "multislerp"  # slerp is defined for two; multislerp is its n-way generalisation
        log.info(f"merge: {len(checkpoints)} {what}, using multislerp")
    result = merge_unless_held(checkpoints, out, method, run.cfg.stage3.t, show_progress=run.show_progress)
    if result is None:
        log.info(f"merge: {out} holds this merge already, kept")
    else:
        log.info(f"merge: {method} of {len(checkpoints)} {what} -> {out} ({result.seconds:.1f} s)")
    return str(out)


def guard(run: Run, merged: str, folder: Path) -> dict:
    """{"model": merged, or slerp(base -> merged, t) per ``stage3.guard``; "guard": what was tried}."""
    g = run.cfg.stage3.guard
    if g is None:
        return {"model": merged}
    from ..merge.guard import guard_search

    try:
        result = guard_search(run.cfg.base_model, merged, folder, g.grid, g.max_drop,
                              lambda model: sts_dev(run, model, g.sts_dev), scope=g.scope)
    except ValueError as e:  # a scope that names no tensor
        raise RecipeError(f"stage3.guard.{e}") from None
    return {"model": result.model, "merged": merged, "guard": result.record(g.scope)}


def check_guard_scope(run: Run) -> None:
    """Before any work: merges keep the base model's tensor names, so the base model decides."""
    from ..merge.guard import check_scope

    g = run.cfg.stage3.guard
    if g is not None and g.scope is not None:
        try:
            check_scope(g.scope, run.cfg.base_model)
        except ValueError as e:
            raise RecipeError(f"stage3.guard.{e}") from None


def sts_dev(run: Run, model: str, path: str) -> float:
    """Spearman x100 of ``model`` on an STS dev CSV, in the evaluation's dtype and cache."""
    from ..merge.search import evaluator

    ev = run.cfg.eval
    evaluate = evaluator("sts", path, batch_size=ev.batch_size, device=run.cfg.device, dtype=ev.dtype,
                         cache_dir=ev.cache_dir)
    with run.state.cost("guard"):
        return round(100 * evaluate(Path(model))["main_score"], 2)
