"""Load a model for inference: device and dtype (``model.loading``), then the optional int8 pass (``runtime.quantize``)."""

from __future__ import annotations

import torch

from ..model.layout import CheckpointLayout
from ..model.loading import load_backbone, pick_device, pick_dtype
from ..runtime.quantize import check_quantize, quantize_linears_int8


def load_for_inference(layout: CheckpointLayout, device=None, dtype=None, quantize: str | None = None,
                       causal_lm: bool = False):
    """Device + dtype choice, the backbone, and the optional int8 quantisation, as Embedder/Reranker load them.

    With ``quantize="int8"`` and no dtype, CPU activations stay fp32: int8 over bf16 activations
    was measured from 1.2x faster to 1.3x slower depending on its order in the process; fp32
    activations were stable and are the closer to fp32 (docs/benchmarks.md, "Engine: int8").
    """
    check_quantize(quantize)
    dev = pick_device(device)
    if quantize and dtype is None and dev.type == "cpu":
        dtype = torch.float32
    model = load_backbone(layout, dev, pick_dtype(dtype, dev, layout.stored_dtype), causal_lm=causal_lm)
    if quantize == "int8":
        quantize_linears_int8(model)
    return model
