"""The training recipe shared by the embedding and reranker trainers.

    trainer = EmbedTrainer(cfg)
    trainer.setup()            # data and config checks first, then model, optimizer, resume
    trainer.train()            # steps, logs, checkpoints every ``save_every`` steps
    trainer.save_checkpoint()  # (train() also saves at the end)
    trainer.cleanup()

Subclasses provide ``load_model()`` (sets ``self.model``, ``self.device``, ``self.tokenizer``),
``training_step(epoch, rows) -> (loss, tokens)`` (forward + backward on this process's rows)
and ``export(dir)``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import get_scheduler

from .checkpoint import load_training_state, newest_checkpoint, prune_checkpoints, save_training_state
from .config import ConfigError
from .data import BatchOrder, check_negatives, read_train_file
from .distributed import all_reduce_gradients, all_reduce_mean, barrier, world
from .progress import TrainLog, plot_curves

LOG_FILE = "train_log.jsonl"
PLOT_FILE = "loss_curve.png"
# config name -> transformers' schedule (linear warmup from 0, then the named decay)
HF_SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


class Trainer:
    task_name = "train"

    def __init__(self, cfg):
        self.cfg = cfg
        self.output_dir = Path(cfg.output_dir)
        self.rank, self.world_size = world()
        self.step = 0
        self.saved_step: int | None = None  # the step of the last checkpoint saved (or resumed from)
        self.model = None

    # ------------------------------------------------------------------ setup

    def planned_steps(self) -> int:
        """How many optimizer steps this run takes (reads and checks the data on first call)."""
        if getattr(self, "order", None) is None:
            self._prepare_data()
        return self.total_steps

    def _prepare_data(self) -> None:
        cfg = self.cfg
        self.rows = read_train_file(cfg.data.train_file)
        check_negatives(self.rows, self.negatives_per_row(), cfg.data.train_file)
        if cfg.batch_size % self.world_size:
            raise ConfigError(f"batch_size {cfg.batch_size} does not split evenly over {self.world_size} processes")
        try:
            self.order = BatchOrder(len(self.rows), cfg.batch_size, cfg.seed, cfg.data.shuffle)
        except ValueError as e:
            raise ConfigError(f"{e}; lower batch_size or add rows") from None
        total = self.order.steps_per_epoch * cfg.optim.epochs
        self.total_steps = min(total, cfg.optim.max_steps) if cfg.optim.max_steps else total

    def setup(self) -> "Trainer":
        """Validate everything that can be checked cheaply, then build model and optimizer."""
        cfg = self.cfg
        self.planned_steps()
        if cfg.tensorboard:
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                raise ConfigError("tensorboard: true needs the 'tensorboard' package (pip install tensorboard)") from None

        torch.manual_seed(cfg.seed)
        self.load_model()
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ConfigError("nothing to train: no parameter requires a gradient")
        self.optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
        self.scheduler = get_scheduler(HF_SCHEDULERS[cfg.optim.scheduler], self.optimizer,
                                       num_warmup_steps=int(cfg.optim.warmup_ratio * self.total_steps),
                                       num_training_steps=max(1, self.total_steps))

        resume_step = 0
        ckpt = newest_checkpoint(self.output_dir) if cfg.resume else None
        if ckpt is not None:
            state = load_training_state(ckpt, self.model, self.optimizer, self.scheduler, self.rank, self.device)
            self.step = resume_step = int(state["step"])
            self.saved_step = resume_step  # that checkpoint is this step's save
            self.resumed_from = ckpt
        else:
            self.resumed_from = None
        if self.rank == 0:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            (self.output_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        tb = self.output_dir / "tensorboard" if cfg.tensorboard else None
        self.log = TrainLog(self.output_dir / LOG_FILE, resume_step, tb, enabled=self.rank == 0)
        return self

    def negatives_per_row(self) -> int:
        return self.cfg.data.num_negatives

    # ------------------------------------------------------------------ loop

    def local_rows(self, rows: list[int]) -> list[int]:
        """This process's contiguous share of a global batch (rank order = gather order)."""
        n = len(rows) // self.world_size
        return rows[self.rank * n: (self.rank + 1) * n]

    def train(self) -> list[float]:
        """Run until ``total_steps``; returns the losses of the steps run here."""
        cfg = self.cfg
        losses = []
        bar = None
        if cfg.progress and self.rank == 0:
            from ..progress import tqdm

            bar = tqdm(total=self.total_steps, initial=self.step, desc=self.task_name, unit="step")
        while self.step < self.total_steps:
            epoch, rows = self.order.rows(self.step)
            t0 = time.perf_counter()
            self.model.train()
            self.optimizer.zero_grad(set_to_none=True)
            loss, tokens = self.training_step(epoch, self.local_rows(rows))
            all_reduce_gradients(self.model)
            if cfg.optim.max_grad_norm:
                torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.requires_grad],
                                               cfg.optim.max_grad_norm)
            lr = self.scheduler.get_last_lr()[0]
            self.optimizer.step()
            self.scheduler.step()
            self.step += 1
            seconds = time.perf_counter() - t0
            loss_value = all_reduce_mean(float(loss), self.device)
            losses.append(loss_value)
            if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                self.log.write({"step": self.step, "epoch": epoch, "loss": loss_value, "lr": lr,
                                "examples_per_s": round(len(rows) / seconds, 3),
                                "tokens_per_s": round(tokens * self.world_size / seconds, 1),
                                "seconds": round(seconds, 4)})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{lr:.2e}")
            if cfg.save_every and self.step % cfg.save_every == 0 and self.step < self.total_steps:
                self.save_checkpoint()
        if bar is not None:
            bar.close()
        # Every process takes the same branch (save_checkpoint holds barriers): decided on state they
        # share, never on the file system, where rank 0's save may already be under way.
        if self.step == self.total_steps and self.saved_step != self.step:
            self.save_checkpoint()
        self.finish()
        return losses

    def finish(self) -> None:
        """Final export to ``output_dir/final`` and the loss-curve PNG."""
        if self.rank == 0:
            final = self.output_dir / "final"
            src = self.output_dir / f"checkpoint-{self.step}"
            if final.exists():
                shutil.rmtree(final)
            shutil.copytree(src, final, ignore=shutil.ignore_patterns("trainer_state"), copy_function=_link_or_copy)
            plot_curves(self.output_dir / LOG_FILE, self.output_dir / PLOT_FILE, title=f"{self.task_name}: {self.cfg.model}")
        barrier()

    def save_checkpoint(self) -> Path:
        """Export the model (LoRA merged) plus the resumable state to ``checkpoint-{step}``."""
        ckpt = self.output_dir / f"checkpoint-{self.step}"
        if self.rank == 0:
            tmp_state = ckpt / "trainer_state" / "state.json"
            if tmp_state.exists():
                tmp_state.unlink()  # an old, complete save of the same step is being replaced
            self.export(ckpt)
        barrier()
        save_training_state(ckpt, self.model, self.optimizer, self.scheduler, self.step, self.rank, self.device,
                            extra={"total_steps": self.total_steps, "task": self.task_name})
        barrier()
        self.saved_step = self.step
        if self.rank == 0:
            prune_checkpoints(self.output_dir, self.cfg.keep_checkpoints)
        return ckpt

    def cleanup(self) -> None:
        self.log.close()

    # ------------------------------------------------------------------ for subclasses

    def load_model(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def training_step(self, epoch: int, rows: list[int]) -> tuple[torch.Tensor, int]:  # pragma: no cover
        raise NotImplementedError

    def export(self, out: Path) -> Path:  # pragma: no cover
        raise NotImplementedError


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
