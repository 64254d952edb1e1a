"""Check a checkpoint's weight files and instantiate the transformers backbone on a device/dtype."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError
from .layout import CheckpointLayout, read_json
from .safetensors_file import check_safetensors_header

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` picks CUDA, then Apple MPS, then CPU."""
    if device is not None:
        try:
            chosen = torch.device(device)
        except RuntimeError as e:
            raise ValueError(f"device {device!r} is not valid; accepted: cpu, cuda, cuda:N, mps") from e
        _check_available(chosen)
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _check_available(device: torch.device) -> None:
    """Refuse a device this machine lacks here, not as an assertion deep inside torch."""
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"device {str(device)!r} is not available ({build}); accepted here: cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r} does not exist; this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s): cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {str(device)!r} is not available (no Apple MPS here); accepted here: cpu"
                         + (", cuda" if torch.cuda.is_available() else ""))


HALF_PRECISION = ("bfloat16", "float16")


def pick_dtype(dtype: str | torch.dtype | None, device: torch.device, stored: str | None = None) -> torch.dtype:
    """The compute dtype. An explicit dtype wins; otherwise the fastest faithful choice.

    ``None`` (the default):
    - CUDA: bf16 where supported, else fp16; Apple MPS: fp16;
    - CPU: bf16 when the checkpoint was released in half precision (``stored``, from config.json:
      Qwen3-Embedding/Reranker are bf16) *and* the CPU has native bf16 matmuls (AVX512-BF16 /
      AMX); fp32 otherwise. A bf16 checkpoint then runs in its own precision (what transformers
      v5 loads by default too), an fp32 checkpoint such as all-MiniLM-L6-v2 stays fp32, and a
      CPU without native bf16 never gets the slow emulated path.

    ``"auto"``: like ``None``, but on a CPU with native bf16 it takes bf16 for fp32 checkpoints too.
    Override with ``"float32"`` for the bit-faithful reference (e.g. to compare with fp32 numbers).
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is not None and dtype != "auto":
        if dtype not in _DTYPES:
            raise ValueError(f"dtype {dtype!r} is not valid; accepted: auto, {', '.join(sorted(set(_DTYPES)))}")
        return _DTYPES[dtype]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    from .cpu import has_native_bf16

    if device.type == "cpu" and has_native_bf16() and (dtype == "auto" or stored in HALF_PRECISION):
        return torch.bfloat16
    return torch.float32


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors (or .bin) files of a checkpoint, checked to exist and to be readable."""
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = read_json(index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index} has no 'weight_map'")
        files = [model_dir / name for name in sorted(set(weight_map.values()))]
    elif (model_dir / "model.safetensors").exists():
        files = [model_dir / "model.safetensors"]
    elif (model_dir / "pytorch_model.bin").exists():
        return [model_dir / "pytorch_model.bin"]
    else:
        raise CheckpointError(
            f"no weights in {model_dir}: expected model.safetensors, model.safetensors.index.json "
            "with its shards, or pytorch_model.bin"
        )
    for f in files:
        check_safetensors_header(f)
    return files


def load_backbone(layout: CheckpointLayout, device: torch.device, dtype: torch.dtype, causal_lm: bool = False):
    """Instantiate the transformers model (``AutoModel``, or ``AutoModelForCausalLM`` for rerankers)."""
    from transformers import AutoModel, AutoModelForCausalLM

    weight_files(layout.model_dir)
    cls = AutoModelForCausalLM if causal_lm else AutoModel
    if layout.is_vl:  # Qwen3-VL: the vision tower + language model, and the LM head for rerankers
        from transformers import Qwen3VLForConditionalGeneration, Qwen3VLModel

        cls = Qwen3VLForConditionalGeneration if causal_lm else Qwen3VLModel
    kwargs = dict(dtype=dtype)
    if layout.is_decoder or layout.is_vl:
        kwargs["attn_implementation"] = "sdpa"
    try:
        model = cls.from_pretrained(layout.model_dir, **kwargs)
    except (OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"could not load weights from {layout.model_dir}: {str(e).splitlines()[0]}") from e
    return model.to(device).eval()


def load_tokenizer(layout: CheckpointLayout):
    from transformers import AutoTokenizer

    for d in (layout.model_dir, layout.root):
        if (d / "tokenizer.json").exists() or (d / "tokenizer_config.json").exists():
            try:
                return AutoTokenizer.from_pretrained(d)
            except (OSError, ValueError) as e:
                raise CheckpointError(f"could not load the tokenizer in {d}: {str(e).splitlines()[0]}") from e
    raise CheckpointError(f"no tokenizer files (tokenizer.json / tokenizer_config.json) in {layout.model_dir}")
