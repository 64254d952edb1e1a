"""Token ids -> pooled hidden states with gradients: the trainable side of ``Embedder`` and ``Reranker``.

Qwen3 backbones with last-token pooling train on the engine's own packed forward
(``runtime/fast_qwen3.py``): the same modules, the same arithmetic and no padding, so what is
trained is what ``Embedder.encode`` (and ``Reranker``) later computes, and no FLOP goes to pad
tokens. Encoders (MiniLM, BERT: mean/CLS pooling) and anything the packed forward does not
cover run the padded transformers forward with right padding, as ``Embedder`` does for them.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from ..runtime.batching import pad_batch
from ..runtime.fast_qwen3 import PackedQwen3, supports_packed
from ..runtime.packing import pack
from ..runtime.pooling import POOLERS
from .adapters import base_model


def can_train_packed(backbone, pooling: str) -> bool:
    """True when the packed forward computes exactly what the padded one does, gradients included.

    It has no attention dropout (Qwen3 releases set it to 0); a config that asks for it trains padded.
    """
    return (pooling == "lasttoken" and supports_packed(backbone)
            and not getattr(backbone.config, "attention_dropout", 0.0))


class EmbeddingForward:
    """``rows -> (B, H)`` float32 pooled hidden states (not normalised: losses normalise).

    ``model``: a transformers backbone (``Qwen3Model``, ``BertModel``...), possibly under peft.
    ``packed``: None picks the packed forward wherever ``can_train_packed``; False forces the
    padded reference (tests and ``bench/train_throughput.py`` compare the two).
    """

    def __init__(self, model, pooling: str, pad_id: int, device: torch.device, bf16: bool = False,
                 packed: bool | None = None):
        self.model, self.pool, self.pad_id, self.device, self.bf16 = model, POOLERS[pooling], pad_id, device, bf16
        backbone = base_model(model)
        if packed is None:
            packed = can_train_packed(backbone, pooling)
        elif packed and not can_train_packed(backbone, pooling):
            raise ValueError("packed training needs a Qwen3 backbone with last-token pooling and no attention dropout")
        # peft injects LoRA layers into the backbone's own modules, so wrapping the backbone
        # runs the adapters too.
        self.fast = PackedQwen3(backbone) if packed else None

    @property
    def packed(self) -> bool:
        return self.fast is not None

    def autocast(self):
        if not self.bf16:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def __call__(self, rows: list[list[int]]) -> torch.Tensor:
        """(B,) token id lists -> (B, H) float32 pooled."""
        with self.autocast():
            if self.fast is not None:
                return self.fast.last_hidden(pack(rows, self.device)).float()  # (B, H)
            ids, mask = pad_batch(rows, self.pad_id, side="right")  # (B, T), (B, T)
            ids, mask = ids.to(self.device), mask.to(self.device)
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, H)
            return self.pool(hidden, mask).float()  # (B, H)
