"""The training stages: stage 1 on the synthetic pairs, stage 2 (and the ablation's stage 2) on the
labelled pairs, with the checkpoints stage 3 merges. Each trains ``EmbedTrainer`` on the stage's
``EmbedTrainConfig`` (``config.stage_train_config``) and resumes from its newest checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

from ..data.jsonl import read_jsonl
from .config import RecipeError, stage_train_config
from .state import Run

log = logging.getLogger(__name__)


def stage1(run: Run) -> dict:
    """Weakly supervised training from the base model on the synthetic pairs (all, or the filtered ones)."""
    filtered = run.cfg.stage1.pairs == "filtered"
    pairs = run.outputs("filter")["kept"] if filtered else run.outputs("synth")["pairs"]
    run_dir = run.out / "stage1"
    train(run, "stage1", run.cfg.base_model, pairs, run_dir)
    return {"model": str(run_dir / "final")}


def stage2(run: Run) -> dict:
    """SFT from the stage-1 model on the labelled (plus filtered synthetic) pairs."""
    data = stage2_data(run, with_synthetic=run.cfg.stage2.synthetic)
    runs = train_runs(run, "stage2", run.outputs("stage1")["model"], data)
    # "w/o model merge" is run 0's last checkpoint: one model, whatever stage 3 merges
    return {"model": runs["checkpoints"][-1], **runs, "train_file": str(data)}


def stage2_data(run: Run, with_synthetic: bool) -> Path:
    """The stage-2 training file: the labelled pairs, then (``with_synthetic``) the kept synthetic ones."""
    from ..synth.filter import write_pairs

    out = run.out / "data" / ("stage2.jsonl" if with_synthetic else "labelled_only.jsonl")
    rows = labelled_pairs(run.cfg.stage2.labelled, run.cfg.stage2.labelled_split)
    if with_synthetic:
        rows += read_jsonl(run.outputs("filter")["kept"], "filtered pairs")
    write_pairs(rows, out)
    return out


def train_runs(run: Run, name: str, model: str, data: Path) -> dict:
    """``stage2.runs`` runs from ``model``: {"checkpoints": run 0's last ones, "runs": each run's last}.

    Run r > 0 trains in ``<name>-run<r>`` with seed + 1000 * r, so adding runs to a recipe
    keeps run 0 (and its evaluation) as it was."""
    seed = run.cfg.stage2.train.get("seed", run.cfg.seed) or 0
    ckpts = [train_for_merge(run, name if r == 0 else f"{name}-run{r}", model, data, seed + 1000 * r)
             for r in range(run.cfg.stage2.runs)]
    return {"checkpoints": ckpts[0], "runs": [c[-1] for c in ckpts]}


def train_for_merge(run: Run, name: str, model: str, data: Path, seed: int) -> list[str]:
    """Train with checkpoints spread over the run; the last ``stage2.checkpoints`` are merged."""
    k = run.cfg.stage2.checkpoints
    run_dir = run.out / name
    train(run, name, model, str(data), run_dir, checkpoints=k, seed=seed)
    ckpts = sorted((p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]))
    if len(ckpts) < k:
        raise RecipeError(f"{name}: expected {k} checkpoints in {run_dir}, found {len(ckpts)}; "
                          f"is keep_checkpoints lower than stage2.checkpoints?")
    return [str(p) for p in ckpts[-k:]]  # merge_checkpoints skips their trainer_state


def train(run: Run, name: str, model: str, train_file: str, run_dir: Path,
          checkpoints: int | None = None, seed: int | None = None) -> None:
    """Train one stage; with ``checkpoints``, save that many spread over the trainer's planned steps."""
    from ..train.config import ConfigError
    from ..train.embed_trainer import EmbedTrainer

    stage = "stage1" if name == "stage1" else "stage2" if name.startswith("stage2") else "ablation"
    cfg = stage_train_config(run.cfg, stage, model, train_file, run_dir, seed=seed, progress=run.show_progress)
    trainer = EmbedTrainer(cfg)
    if checkpoints is not None:
        try:
            total = trainer.planned_steps()
        except ConfigError as e:
            raise RecipeError(f"{name}: {e}") from None
        if total < checkpoints:
            raise RecipeError(f"{name}: the run has only {total} steps, fewer than stage2.checkpoints={checkpoints}; "
                              f"add data or epochs, or lower batch_size")
        cfg.save_every = max(1, total // checkpoints)
    trainer.setup()
    if trainer.resumed_from is not None:
        log.info(f"{name}: resuming from {trainer.resumed_from}")
    losses = trainer.train()
    trainer.cleanup()
    if losses:
        log.info(f"{name}: {len(losses)} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")


def labelled_pairs(path: str, split: str = "train") -> list[dict]:
    """Labelled pairs from a training JSONL, or from a BEIR folder's qrels (score > 0 = positive)."""
    p = Path(path)
    if p.is_dir():
        from ..eval import load_beir

        corpus, queries, qrels = load_beir(p, split)
        rows = []
        for qid, rels in qrels.items():
            pos = [corpus[d] for d, s in rels.items() if s > 0 and d in corpus]
            if qid in queries and pos:
                rows.append({"query": queries[qid], "pos": pos, "provenance": {"source": f"{p.name}/{split}", "query_id": qid}})
        if not rows:
            raise RecipeError(f"stage2.labelled: {p} split '{split}' has no positive qrels")
        return rows
    from ..train.data import read_train_file

    read_train_file(p)  # checks every row, naming the bad line
    return read_jsonl(p, "stage2.labelled")
