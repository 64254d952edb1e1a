"""Merge whole checkpoints tensor by tensor: validate, plan, stream, rename into place.

Every method writes Σ c_i·x_i per tensor. Linear and LoRA know the coefficients up front;
slerp and multislerp need the tensors' Gram matrix first, so a tensor larger than one block
is read twice: once to accumulate ⟨x_i, x_j⟩ in float64, once to write the combination.
Peak memory is therefore a few blocks of ``block_elements`` per input, whatever the model size.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..errors import CheckpointError
from .combine import combine, gram_matrix
from .files import copy_support_files
from .linear import normalize_weights
from .lora import LoraSource
from .multislerp import multislerp_coefficients
from .schedule import Schedule, layer_index
from .slerp import COLINEAR_EPS, slerp_coefficients
from .sources import open_source
from .stream import ShardedWriter, atomic_output_dir
from .validate import check_same_architecture, check_same_tensors, droppable_buffers

METHODS = ("slerp", "multislerp", "linear", "lora")
BLOCK_ELEMENTS = 1 << 22  # 4M elements: 32 MiB per input as float64 during the Gram pass
MERGE_RECORD = "q3embed_merge.json"


@dataclass
class MergeResult:
    out: Path
    tensors: int
    bytes_written: int
    seconds: float
    colinear: list[str] = field(default_factory=list)  # slerp tensors that fell back to lerp
    not_merged: list[str] = field(default_factory=list)  # other modules' weight files


def holds_merge(out: str | Path, method: str, inputs: list, t: float | str | None) -> bool:
    """Whether ``out`` is a finished merge of exactly these inputs with this method and t.

    Reruns keep such a merge: rewriting it would change its files' times, and so the embedding
    cache's key for it. Inputs compare as the record names them (resolved checkpoint paths)."""
    record = Path(out) / MERGE_RECORD
    if not record.exists():
        return False
    from ..errors import ModelNotFoundError
    from ..model.resolve import resolve_model_path

    try:
        labels = [str(resolve_model_path(i, allow_download=False)) for i in inputs]
    except ModelNotFoundError:  # an input that no longer resolves: merge again, which names the problem
        return False
    rec = json.loads(record.read_text())
    return rec.get("method") == method and rec.get("inputs") == labels and rec.get("t") == t


def merge_unless_held(inputs: list, out: str | Path, method: str, t: float | str | list | None = None,
                      **kwargs) -> MergeResult | None:
    """``merge_checkpoints(inputs, out, method, t, overwrite=True, **kwargs)``, unless ``out`` already
    holds this merge (``holds_merge``): then None, and the finished merge is kept as it is."""
    t = t if method == "slerp" else None
    if holds_merge(out, method, inputs, t):
        return None
    return merge_checkpoints(inputs, out, method=method, t=0.5 if t is None else t, overwrite=True, **kwargs)


def merge_checkpoints(inputs: list[str | Path], out: str | Path, method: str = "slerp",
                      t: str | float | list = 0.5, weights=None, lora_base: str | Path | None = None,
                      dtype: torch.dtype | None = None, shard_bytes: int = 5 * 2**30,
                      block_elements: int = BLOCK_ELEMENTS, overwrite: bool = False,
                      show_progress: bool = False) -> MergeResult:
    """Merge checkpoints (or LoRA adapters, merged into their base first) into ``out``.

    method: ``slerp`` (two inputs, factor ``t``: a value, a layer gradient "0,0.5,1", or
    name-filtered rules, see ``schedule``), ``multislerp`` / ``linear`` (two or more inputs,
    optional ``weights``), ``lora`` (one adapter, merged into its base). The output keeps the
    inputs' dtype unless ``dtype`` is given, and appears at ``out`` only when complete.
    """
    started = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not known; accepted: {', '.join(METHODS)}")
    sources = [open_source(p, lora_base) for p in inputs]
    _check_arity(method, sources)
    check_same_architecture(sources)
    dropped = droppable_buffers(sources)  # e.g. position_ids saved by an old base, absent from its fine-tune
    check_same_tensors(sources, dropped)
    first = sources[0]
    names = [n for n in first.names if n not in dropped]
    t_of = _t_values(method, t, names, first.config)  # raises on out-of-range t before any output
    w = normalize_weights(weights, len(sources)) if method in ("multislerp", "linear") else None
    out_dtype = {n: (dtype if dtype is not None and first.dtype(n).is_floating_point else first.dtype(n)) for n in names}
    plan = [(n, out_dtype[n], first.shape(n)) for n in names]
    total = sum(math.prod(s) * torch.empty((), dtype=d).element_size() for _, d, s in plan)
    result = MergeResult(Path(out), len(names), total, 0.0)

    with atomic_output_dir(Path(out), overwrite) as tmp:
        model_dir = tmp / first.model_dir.resolve().relative_to(first.root.resolve())
        model_dir.mkdir(parents=True, exist_ok=True)
        _, result.not_merged = copy_support_files(first.root, first.model_dir, tmp)
        result.not_merged += [f"{n}: a rebuilt buffer some inputs lack, left out" for n in sorted(dropped)]
        writer = ShardedWriter(model_dir, plan, shard_bytes)
        progress = _progress(total, show_progress)
        try:
            for name in names:
                coef = {"linear": w, "lora": np.ones(1)}.get(method)  # None: needs the Gram matrix
                for block in _merged_blocks(sources, name, method, coef, t_of.get(name), w, out_dtype[name],
                                            block_elements, result):
                    writer.write(name, block)
                    progress.update(block.numel() * block.element_size())
            writer.close()
        finally:
            writer.abort()
            progress.close()
        record = {"q3embed_version": __version__, "method": method, "inputs": [s.label for s in sources],
                  "t": t if method == "slerp" else None, "weights": None if w is None else w.tolist(),
                  "colinear_fallback_tensors": len(result.colinear)}
        (tmp / MERGE_RECORD).write_text(json.dumps(record, indent=2))
    result.seconds = time.perf_counter() - started
    return result


def _merged_blocks(sources, name, method, coef, t, w, out_dtype, block_elements, result):
    """Yield the merged tensor ``name`` as row blocks in order."""
    first = sources[0]
    info = first.tensors[name]
    step = max(1, block_elements // max(1, info.row_numel))
    spans = [(i, min(i + step, info.rows)) for i in range(0, info.rows, step)] or [(0, 0)]
    if not first.dtype(name).is_floating_point:  # ids, masks: cannot be interpolated, must agree
        for a, b in spans:
            xs = [s.read_rows(name, a, b) for s in sources]
            if any(not torch.equal(xs[0], x) for x in xs[1:]):
                raise CheckpointError(f"tensor '{name}' is {first.dtype(name)} and differs between inputs; "
                                      "non-float tensors cannot be merged")
            yield xs[0]
        return
    cached = None
    if coef is None:
        if method == "slerp" and t in (0.0, 1.0):  # the end points need no angle
            coef = np.array([1.0 - t, t])
        else:
            gram = np.zeros((len(sources), len(sources)))
            for a, b in spans:
                xs = [s.read_rows(name, a, b) for s in sources]
                gram += gram_matrix(xs)
                if len(spans) == 1:
                    cached = xs  # small tensor: keep it for the write pass instead of re-reading
            if method == "slerp":
                coef = np.array(slerp_coefficients(gram, t))
                norms = math.sqrt(gram[0, 0] * gram[1, 1])
                if norms == 0 or abs(gram[0, 1] / norms) > 1.0 - COLINEAR_EPS:
                    result.colinear.append(name)
            else:
                coef = multislerp_coefficients(gram, w)
    for a, b in spans:
        xs = cached if cached is not None else [s.read_rows(name, a, b) for s in sources]
        yield combine(xs, coef, out_dtype)


def _check_arity(method: str, sources) -> None:
    n = len(sources)
    if method == "slerp" and n != 2:
        raise ValueError(f"slerp merges exactly 2 checkpoints, got {n}; use --method multislerp for more")
    if method in ("multislerp", "linear") and n < 2:
        raise ValueError(f"{method} needs at least 2 checkpoints, got {n}")
    if method == "lora" and (n != 1 or not isinstance(sources[0], LoraSource)):
        raise ValueError("--method lora takes exactly one input, a LoRA adapter directory (with adapter_config.json)")


def _t_values(method: str, t, names: list[str], config: dict) -> dict[str, float]:
    if method != "slerp":
        return {}
    num_layers = int(config.get("num_hidden_layers") or 0)
    if not num_layers:
        idx = [i for n in names if (i := layer_index(n)) is not None]
        num_layers = max(idx) + 1 if idx else 1
    schedule = Schedule.parse(t, num_layers)
    return {n: schedule.t_for(n) for n in names}


def _progress(total: int, show: bool):
    from ..progress import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="merge", disable=not show)
