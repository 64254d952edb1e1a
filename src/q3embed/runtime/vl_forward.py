"""The Qwen3-VL forward over a batch of ``VLRow``s: right padding, packed image patches, last token.

``last_hidden(model, rows, pad_id)`` -> (B, H): the final hidden state of each row's last token,
taken from ``last_hidden_state``, i.e. *after* the language model's final RMSNorm. (Newer
transformers return ``hidden_states[-1]`` before that norm; pooling it gives other vectors, the
trap VLM2Vec and vLLM fell into.) ``model`` is a transformers ``Qwen3VLModel``.

All images of the batch go to the vision tower as one packed sequence of patches with their
``grid_thw`` (the tower attends within each image), in the order their ``<|image_pad|>`` runs
appear row after row, which is the order the model scatters them back in.
"""

from __future__ import annotations

import torch

from .batching import pad_batch
from .pooling import last_token_pool


def vl_batch(rows, pad_id: int, image_token_id: int, device: torch.device, dtype: torch.dtype) -> dict:
    """Model inputs for ``rows`` (``VLRow``): ids/mask (B, T), mm_token_type_ids (B, T), and the
    packed pixel_values (sum N_i, C*T*P*P) with image_grid_thw (num_images, 3) when any row has images."""
    input_ids, mask = pad_batch(rows, pad_id, side="right")  # (B, T), (B, T)
    batch = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
    images = [im for r in rows for im in getattr(r, "images", ())]
    # A row that lost its images (copied as a plain list somewhere) would embed the placeholder
    # tokens themselves: a silently wrong vector. Refuse it.
    placeholders = int((input_ids == image_token_id).sum())
    if placeholders != sum(im.tokens for im in images):
        raise ValueError(f"the rows hold {placeholders} image tokens but carry images for "
                         f"{sum(im.tokens for im in images)}; rows must be VLRows from prepare()")
    if images:
        # 1 marks image positions: the model builds its 3-D (M-RoPE) positions from these.
        batch["mm_token_type_ids"] = (input_ids == image_token_id).to(torch.int32).to(device)
        batch["pixel_values"] = torch.cat([im.pixel_values for im in images]).to(device, dtype)
        batch["image_grid_thw"] = torch.tensor([im.grid_thw for im in images], dtype=torch.long, device=device)
    return batch


def last_hidden(model, rows, pad_id: int, image_token_id: int) -> torch.Tensor:
    """(B, H) final-norm hidden states of each row's last token, in the model's dtype."""
    param = next(model.parameters())
    batch = vl_batch(rows, pad_id, image_token_id, param.device, param.dtype)
    out = model(**batch, use_cache=False)
    # rope_deltas is generation state the model keeps between calls; a pooling forward needs none.
    if hasattr(model, "rope_deltas"):
        model.rope_deltas = None
    return last_token_pool(out.last_hidden_state, batch["attention_mask"])  # (B, H)
