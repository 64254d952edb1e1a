"""Resumable training state: trainable weights, optimizer, scheduler, RNG states, step.

A checkpoint directory ``checkpoint-{step}`` holds the exported model (loadable by
``Embedder.load`` / ``Reranker.load``) and ``trainer_state/`` with everything a killed run
needs to continue the same loss curve. ``state.json`` is written last, so a directory without
it is an interrupted save and is skipped on resume.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from .adapters import trainable_parameters

STATE_DIR = "trainer_state"


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    dirs = [d for d in Path(output_dir).glob("checkpoint-*") if (d / STATE_DIR / "state.json").is_file()]
    return sorted(dirs, key=lambda d: int(d.name.split("-")[-1]))


def newest_checkpoint(output_dir: Path) -> Path | None:
    dirs = checkpoint_dirs(output_dir)
    return dirs[-1] if dirs else None


def capture_rng(device: torch.device) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def save_training_state(ckpt: Path, model, optimizer, scheduler, step: int, rank: int, device: torch.device,
                        extra: dict | None = None) -> None:
    from safetensors.torch import save_file

    sd = ckpt / STATE_DIR
    sd.mkdir(parents=True, exist_ok=True)
    torch.save(capture_rng(device), sd / f"rng-{rank}.pt")
    if rank != 0:
        return
    tensors = {n: p.detach().contiguous().cpu() for n, p in trainable_parameters(model).items()}
    save_file(tensors, str(sd / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, sd / "optimizer.pt")
    tmp = sd / "state.json.tmp"
    tmp.write_text(json.dumps({"step": step, **(extra or {})}, indent=2))
    tmp.replace(sd / "state.json")


def load_training_state(ckpt: Path, model, optimizer, scheduler, rank: int, device: torch.device) -> dict:
    """Restore into live objects; returns state.json (with ``step``)."""
    from safetensors.torch import load_file

    sd = ckpt / STATE_DIR
    tensors = load_file(str(sd / "trainable.safetensors"))
    params = trainable_parameters(model)
    if set(tensors) != set(params):
        extra, missing = sorted(set(tensors) - set(params)), sorted(set(params) - set(tensors))
        raise ValueError(f"{ckpt}: trainable weights do not match this config (unexpected {extra[:3]}, missing {missing[:3]}); "
                         "was it written with a different lora setting?")
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(tensors[n].to(p.device))
    opt = torch.load(sd / "optimizer.pt", map_location=device, weights_only=False)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    rng_file = sd / f"rng-{rank}.pt"
    restore_rng(torch.load(rng_file if rng_file.exists() else sd / "rng-0.pt", weights_only=False), device)
    return json.loads((sd / "state.json").read_text())


def prune_checkpoints(output_dir: Path, keep: int | None) -> None:
    if keep is None:
        return
    for d in checkpoint_dirs(output_dir)[:-keep]:
        shutil.rmtree(d, ignore_errors=True)
