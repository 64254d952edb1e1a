"""Training logs: a JSONL row per logged step, optional TensorBoard, a PNG of the curves."""

from __future__ import annotations

import time
from pathlib import Path

from ..data.jsonl import append_jsonl, read_jsonl, write_jsonl


class TrainLog:
    """Append-only JSONL of {step, epoch, loss, lr, examples_per_s, tokens_per_s, ...}.

    On resume, rows after the resumed step (written by the killed run past its last
    checkpoint) are dropped, so the log reads as one uninterrupted run.
    """

    def __init__(self, path: Path, resume_step: int = 0, tensorboard_dir: Path | None = None, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        self.writer = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step] if resume_step else []
        write_jsonl(self.path, kept)
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(tensorboard_dir))

    def write(self, row: dict) -> None:
        if not self.enabled:
            return
        row = {**row, "time": round(time.time(), 3)}
        append_jsonl(self.path, [row])
        if self.writer is not None:
            for k, v in row.items():
                if k not in ("step", "time", "epoch") and isinstance(v, (int, float)):
                    self.writer.add_scalar(f"train/{k}", v, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_log(path: Path) -> list[dict]:
    return read_jsonl(path, "training log", missing_ok=True)


def plot_curves(log_path: Path, png_path: Path, title: str = "training") -> Path | None:
    """Loss (raw and smoothed) and learning rate against step."""
    rows = [r for r in read_log(log_path) if "loss" in r]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    loss = [r["loss"] for r in rows]
    smooth, acc = [], None
    for v in loss:  # exponential moving average, as most training dashboards show
        acc = v if acc is None else 0.9 * acc + 0.1 * v
        smooth.append(acc)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, loss, alpha=0.35, label="loss")
    ax.plot(steps, smooth, label="loss (EMA 0.9)")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if "lr" in rows[0]:
        ax2 = ax.twinx()
        ax2.plot(steps, [r["lr"] for r in rows], color="gray", linestyle=":", label="lr")
        ax2.set_ylabel("learning rate")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
    return Path(png_path)
