"""Opt-in int8 dynamic quantisation of a model's linear layers, through torchao.

Every ``nn.Linear`` of the transformer blocks gets int8 weights (one scale per output row) and
int8 activations quantised at run time with one scale per token. Embeddings, norms, attention
and the reranker's two head rows keep the compute dtype.

Why torchao and per-token scales: torch's older ``quantize_dynamic`` (fbgemm) is deprecated
and uses one activation scale per *call*. With packed batches that makes a text's vector
depend on which other texts share its batch; per-token scales keep every token's arithmetic
independent of its neighbours, so batch invariance holds exactly as in fp32/bf16.

Quality cost and speed are measured, not assumed: ``python -m bench.int8_quality`` and
``python -m bench.embed_throughput`` (peer ``c_int8``); figures in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import logging

import torch

QUANTIZE_MODES = ("int8",)


def check_quantize(mode: str | None) -> str | None:
    if mode is not None and mode not in QUANTIZE_MODES:
        raise ValueError(f"quantize {mode!r} is not valid; accepted: None (off), {', '.join(QUANTIZE_MODES)}")
    return mode


def _torchao_int8():
    """torchao's ``quantize_`` and the int8 config.

    If torchao is first imported here, its warnings about optional CUDA libraries it cannot load
    are kept quiet (transformers usually imports it earlier, when it is installed; the CLI quiets
    that logger for the whole run).
    """
    ao_log = logging.getLogger("torchao")
    level = ao_log.level
    ao_log.setLevel(logging.ERROR)
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError as e:
        raise ImportError("quantize='int8' needs torchao: pip install 'q3embed[int8]' (or pip install torchao)") from e
    finally:
        ao_log.setLevel(level)
    return quantize_, Int8DynamicActivationInt8WeightConfig


def quantize_linears_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Quantise ``model``'s transformer-block linear layers in place; returns ``model``.

    Only linears inside the blocks are touched (``layers.N...``/``encoder.layer.N...``): input
    embeddings and any head stay in the compute dtype, as they are a small share of the FLOPs.
    """
    quantize_, config = _torchao_int8()

    def in_block(module: torch.nn.Module, name: str) -> bool:
        return isinstance(module, torch.nn.Linear) and (".layers." in f".{name}" or ".layer." in f".{name}")

    if not any(in_block(m, name) for name, m in model.named_modules()):
        raise ValueError(f"quantize='int8': no linear layers found inside transformer blocks of {type(model).__name__}")
    quantize_(model, config(), filter_fn=in_block)
    return model


def quantization_of(model: torch.nn.Module) -> str | None:
    """"int8" when any linear layer holds quantised weights (a torchao tensor subclass), else None.

    Read from the model itself, so a model quantised outside ``load`` is still recognised (the
    evaluation cache keys vectors by it).
    """
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and type(m.weight) not in (torch.nn.Parameter, torch.Tensor):
            return "int8"
    return None
