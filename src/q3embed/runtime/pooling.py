"""Pooling and MRL truncation: pure tensor functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at each row's last real token, for left or right padding alike.

    hidden: (B, T, H); mask: (B, T) with 1 on real tokens. Returns (B, H).
    Flipping the mask and taking argmax finds the last 1 in each row whichever side holds
    the padding, so the same code serves left-padded reference batches and our right-padded ones.
    """
    T = mask.shape[1]
    last = T - 1 - mask.flip(1).int().argmax(dim=1)  # (B,)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of hidden states over real tokens. hidden: (B, T, H); mask: (B, T). Returns (B, H)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def cls_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """First token's hidden state. hidden: (B, T, H). Returns (B, H)."""
    return hidden[:, 0]


POOLERS = {"lasttoken": last_token_pool, "mean": mean_pool, "cls": cls_pool}


def mrl_truncate(emb: torch.Tensor, dim: int | None, normalize: bool = True) -> torch.Tensor:
    """Matryoshka: keep the first ``dim`` components, then L2-normalise. emb: (B, H) -> (B, dim)."""
    if dim is not None:
        emb = emb[:, :dim]
    return F.normalize(emb, p=2, dim=-1) if normalize else emb
