"""Copy what makes a checkpoint usable besides its weights: config, tokenizer, ST modules."""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

# Weight files of the model itself: the merge writes these.
WEIGHT_PATTERNS = ("model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json",
                   "pytorch_model*.bin", "pytorch_model.bin.index.json")
# Never copied: hub/git metadata, the original model card, adapters (merged in), training state.
SKIP_PATTERNS = (".*", "README.md", "adapter_config.json", "adapter_model.*", "optimizer.pt", "scheduler.pt",
                 "scaler.pt", "rng_state*.pth", "trainer_state", "trainer_state.json", "training_args.bin", "checkpoint-*")
# Weights of other modules (e.g. an ST Dense layer in the old .bin format): cannot be streamed.
UNMERGEABLE = ("*.bin", "*.pt", "*.pth")


def _matches(name: str, patterns) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def copy_support_files(src_root: Path, model_dir: Path, dst_root: Path) -> tuple[list[str], list[str]]:
    """Copy non-weight files from ``src_root`` to ``dst_root``, keeping the layout.

    Returns (copied, not_merged): relative paths copied, and those holding weights of other
    modules (e.g. ``2_Dense/model.safetensors``) that were copied unmerged, or skipped (.bin).
    """
    src_root, model_dir = Path(src_root).resolve(), Path(model_dir).resolve()
    copied, not_merged = [], []
    for path in sorted(src_root.rglob("*")):
        rel = path.relative_to(src_root)
        if any(_matches(part, SKIP_PATTERNS) for part in rel.parts):
            continue
        if path.is_dir():  # kept even when empty: sentence-transformers expects e.g. 2_Normalize/
            (dst_root / rel).mkdir(parents=True, exist_ok=True)
            continue
        if path.parent == model_dir and _matches(path.name, WEIGHT_PATTERNS):
            continue
        if _matches(path.name, UNMERGEABLE):
            not_merged.append(f"{rel} (skipped)")
            continue
        if path.suffix == ".safetensors":
            not_merged.append(f"{rel} (copied from the first input)")
        (dst_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dst_root / rel)
        copied.append(str(rel))
    return copied, not_merged


def copy_checkpoint(src: str | Path, out: str | Path, overwrite: bool = False) -> None:
    """Copy a checkpoint folder to ``out`` whole or not at all: staged beside ``out`` and renamed into
    place, as a merge's output is (``stream.atomic_output_dir``)."""
    from .stream import atomic_output_dir

    with atomic_output_dir(Path(out), overwrite=overwrite) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
