"""Merge a peft LoRA adapter into its base checkpoint, one tensor (row block) at a time.

For a linear layer with base weight W (out, in) and adapter factors A (r, in), B (out, r):

    W' = W + s · B @ A,      s = lora_alpha / r      (lora_alpha / √r with use_rslora)

with r and alpha taken from ``rank_pattern`` / ``alpha_pattern`` where a pattern names the
module. Embeddings store A (r, vocab) and B (dim, r), so their update is (B @ A)ᵀ, as is a
``fan_in_fan_out`` layer's. ``lora_B.bias`` (lora_bias=True) adds s·bias to the base bias.
Full tensors in the adapter (``modules_to_save``, or an embedding's ``base_layer`` saved
with ``save_embedding_layers``) replace the base tensor. DoRA adapters are refused.

The update is row-separable — rows [i, j) of W' need only rows [i, j) of B (or columns of
A for the transposed forms) — so a block of W' is computed without the full ΔW.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.layout import read_json
from ..model.safetensors_file import read_header, read_rows
from .tensor_source import ADAPTER_CONFIG, TensorSource

_PREFIX = "base_model.model."
_FACTOR = re.compile(r"^(?P<module>.+)\.lora_(?P<kind>A|B|embedding_A|embedding_B)(?:\.[\w-]+)?(?:\.(?P<param>weight|bias))?$")


@dataclass
class LoraUpdate:
    a_key: str
    b_key: str
    scale: float
    transposed: bool  # embedding / fan_in_fan_out: ΔW = s·(B @ A)ᵀ
    bias_key: str | None = None


class LoraSource:
    """The base checkpoint's tensors with the adapter merged in: a ``TensorSource``."""

    def __init__(self, adapter_dir: Path, base: TensorSource):
        self.adapter_dir = Path(adapter_dir)
        self.base = base
        self.root, self.model_dir, self.config = base.root, base.model_dir, base.config
        self.tensors = base.tensors  # names, shapes and dtypes are the base's
        self.label = f"{adapter_dir} (LoRA on {base.label})"
        cfg = read_json(self.adapter_dir / ADAPTER_CONFIG)
        if cfg.get("peft_type", "LORA") != "LORA":
            raise CheckpointError(f"{self.adapter_dir}: peft_type {cfg.get('peft_type')!r} is not supported; accepted: LORA")
        if cfg.get("use_dora"):
            raise CheckpointError(f"{self.adapter_dir}: DoRA adapters (use_dora=true) are not supported; merge it with peft")
        weights = self.adapter_dir / "adapter_model.safetensors"
        if not weights.exists():
            raise CheckpointError(f"{self.adapter_dir}: no adapter_model.safetensors (.bin adapters are not supported)")
        self.adapter = read_header(weights)
        self.updates: dict[str, LoraUpdate] = {}  # base tensor name -> update
        self.replacements: dict[str, str] = {}  # base tensor name -> adapter key holding the full tensor
        self._parse(cfg)

    # --- the source interface -------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return self.base.names

    def dtype(self, name: str) -> torch.dtype:
        return self.base.dtype(name)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.base.shape(name)

    def read_rows(self, name: str, start: int = 0, stop: int | None = None) -> torch.Tensor:
        stop = self.base.tensors[name].rows if stop is None else stop
        if name in self.replacements:
            w = read_rows(self.adapter[self.replacements[name]], start, stop)
        else:
            w = self.base.read_rows(name, start, stop)
        upd = self.updates.get(name)
        if upd is None:
            return w
        if upd.bias_key is not None:  # a bias update: s·lora_B.bias
            delta = read_rows(self.adapter[upd.bias_key], start, stop).float() * upd.scale
        else:
            a = read_rows(self.adapter[upd.a_key]).float()  # (r, in) or (r, vocab)
            if upd.transposed:
                b = read_rows(self.adapter[upd.b_key]).float()  # (dim, r)
                delta = (a[:, start:stop].T @ b.T) * upd.scale  # (rows, dim)
            else:
                b = read_rows(self.adapter[upd.b_key], start, stop).float()  # (rows, r)
                delta = (b @ a) * upd.scale  # (rows, in)
        return (w.float() + delta).to(w.dtype)

    # --- adapter parsing ----------------------------------------------------------------------
    def _parse(self, cfg: dict) -> None:
        factors: dict[str, dict[str, str]] = {}
        for key in self.adapter:
            short = key.removeprefix(_PREFIX)
            if "lora_magnitude_vector" in short:
                raise CheckpointError(f"{self.adapter_dir}: tensor {key!r} is a DoRA magnitude; DoRA is not supported")
            m = _FACTOR.match(short)
            if m:
                factors.setdefault(m["module"], {})[m["kind"] + ("_bias" if m["param"] == "bias" else "")] = key
                continue
            # a full tensor: modules_to_save copy or a saved base_layer
            short = short.replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")
            self.replacements[self._base_name(short, key)] = key
        for module, f in factors.items():
            scale = _scale(cfg, module)
            if "A" in f and "B" in f:
                target = self._base_name(f"{module}.weight", f["A"])
                self.updates[target] = LoraUpdate(f["A"], f["B"], scale, transposed=bool(cfg.get("fan_in_fan_out")))
            elif "embedding_A" in f and "embedding_B" in f:
                target = self._base_name(f"{module}.weight", f["embedding_A"])
                self.updates[target] = LoraUpdate(f["embedding_A"], f["embedding_B"], scale, transposed=True)
            else:
                raise CheckpointError(f"{self.adapter_dir}: module {module!r} has an incomplete LoRA pair ({', '.join(f.values())})")
            if "B_bias" in f:
                bias = self._base_name(f"{module}.bias", f["B_bias"])
                self.updates[bias] = LoraUpdate(f["A"], f["B"], scale, transposed=False, bias_key=f["B_bias"])
        for name, upd in self.updates.items():
            if upd.bias_key is None:
                self._check_shapes(name, upd)

    def _base_name(self, target: str, key: str) -> str:
        """The base tensor an adapter key refers to: exact, or matching on a dotted suffix.

        A peft model wraps whatever module was trained (``Qwen3Model``, ``...ForCausalLM``, a
        trainer's wrapper), so its names may carry more or fewer leading components than the
        base checkpoint's.
        """
        names = self.base.tensors
        if target in names:
            return target
        hits = [n for n in names if n.endswith("." + target) or target.endswith("." + n)]
        if len(hits) == 1:
            return hits[0]
        why = "no tensor" if not hits else f"{len(hits)} tensors ({', '.join(hits[:3])})"
        raise CheckpointError(f"adapter tensor {key!r} targets {target!r}, but the base {self.base.label} has {why} of that name")

    def _check_shapes(self, name: str, upd: LoraUpdate) -> None:
        a, b = self.adapter[upd.a_key].shape, self.adapter[upd.b_key].shape
        out = (a[1], b[0]) if upd.transposed else (b[0], a[1])
        if len(a) != 2 or len(b) != 2 or a[0] != b[1] or out != self.base.shape(name):
            raise CheckpointError(f"adapter factors for {name!r} have shapes A{list(a)} B{list(b)}, which do not "
                                  f"make the base tensor's shape {list(self.base.shape(name))}")


def _scale(cfg: dict, module: str) -> float:
    """lora_alpha / r (or / √r for rsLoRA), with per-module overrides from the patterns."""
    r = _pattern_value(cfg.get("rank_pattern") or {}, module, cfg.get("r", 8))
    alpha = _pattern_value(cfg.get("alpha_pattern") or {}, module, cfg.get("lora_alpha", 8))
    return alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r


def _pattern_value(patterns: dict, module: str, default):
    # peft matches a pattern against the end of the module name, on a dot boundary
    for pattern, value in patterns.items():
        if re.match(rf"(.*\.)?(?:{pattern})$", module):
            return value
    return default
