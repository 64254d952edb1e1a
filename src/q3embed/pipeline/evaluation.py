"""The evaluation after every stage and the table in the shape of the paper's ablation."""

from __future__ import annotations

import logging
from pathlib import Path

from .fingerprint import eval_inputs
from .state import Run

log = logging.getLogger(__name__)

ROWS = [  # (stage label, table row) in the paper's ablation order
    ("base", "base model (no training)"),
    ("stage1", "only synthetic data (stage 1)"),
    ("ablation", "w/o synthetic data (labelled SFT + merge)"),
    ("stage2", "w/o model merge (stage 2, last checkpoint)"),
    ("stage3", "full (stage 1 -> 2 -> merge)"),
]


def evaluate(run: Run, label: str, model: str, model_fingerprint: str) -> dict:
    """Scores of ``model`` on the recipe's eval tasks (x100, and their mean); kept in the record
    while the model and the ``eval`` section are unchanged."""
    inputs = eval_inputs(run.cfg, model_fingerprint)
    state = run.state
    if label in state.evals and state.eval_inputs.get(label) == inputs.fingerprint:
        return state.evals[label]
    from ..engine import Embedder
    from ..eval import evaluate_retrieval, evaluate_sts

    ev = run.cfg.eval
    scores = {}
    with state.cost(f"eval {label}"):
        emb = Embedder.load(model, device=run.cfg.device, dtype=ev.dtype)
        for task in ev.retrieval:
            r = evaluate_retrieval(emb, task.data_dir, split=task.split,
                                   instruction=task.instruction, batch_size=ev.batch_size,
                                   cache_dir=ev.cache_dir, show_progress=run.show_progress)
            scores[f"{Path(task.data_dir).name} nDCG@10"] = round(100 * r["main_score"], 2)
        for task in ev.sts:
            r = evaluate_sts(emb, task.path, batch_size=ev.batch_size, cache_dir=ev.cache_dir)
            scores[f"{Path(task.path).stem} Spearman"] = round(100 * r["main_score"], 2)
    scores["mean"] = round(sum(scores.values()) / len(scores), 2)
    log.info(f"eval {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
    state.evals[label] = scores
    state.eval_inputs[label] = inputs.fingerprint
    state.save()
    return scores


def ablation_table(run: Run, fingerprints: dict[str, str]) -> str:
    """The markdown table of the evaluations that are current. A score of a model the recipe no
    longer makes (a stage not yet re-run after an edit) is left out, never shown as current;
    ``fingerprints`` maps each label to its model's fingerprint."""
    state = run.state
    evals = {label: scores for label, scores in state.evals.items()
             if state.eval_inputs.get(label) == eval_inputs(run.cfg, fingerprints.get(label, "")).fingerprint}
    present = [(label, row) for label, row in ROWS if label in evals]
    cols = list(evals[present[0][0]]) if present else []
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for label, row in present:
        lines.append(f"| {row} | " + " | ".join(f"{evals[label].get(c, float('nan')):.2f}" for c in cols) + " |")
    missing = [row for label, row in ROWS if label not in evals]
    if missing:
        lines.append("")
        lines.append("not run: " + "; ".join(missing))
    return "\n".join(lines)
