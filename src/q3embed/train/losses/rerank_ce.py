"""The reranker's objective: -log p(label | P(q, d)), label in {yes, no}, at the last position.

``label_softmax="vocab"`` is the paper's language-model loss (softmax over the whole vocabulary);
``"yes_no"`` restricts it to the two label tokens, which is what ``Reranker.score`` reads.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config import NO_TOKEN_ID, YES_TOKEN_ID


class RerankLabelLoss(nn.Module):
    def __init__(self, label_softmax: str = "vocab"):
        super().__init__()
        if label_softmax not in ("vocab", "yes_no"):
            raise ValueError(f"label_softmax must be 'vocab' or 'yes_no', got {label_softmax!r}")
        self.label_softmax = label_softmax

    def forward(self, last_hidden: torch.Tensor, lm_head: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """last_hidden: (B, H) at the last position; lm_head: (V, H); labels: (B,) 1 = yes, 0 = no."""
        if self.label_softmax == "yes_no":
            head = lm_head[[NO_TOKEN_ID, YES_TOKEN_ID]]  # (2, H)
            logits = (last_hidden @ head.T).float()  # (B, 2): [no, yes]
            return F.cross_entropy(logits, labels.long())
        logits = (last_hidden @ lm_head.T).float()  # (B, V): only the last position, not (B, T, V)
        target = torch.where(labels.bool(), YES_TOKEN_ID, NO_TOKEN_ID)  # (B,)
        return F.cross_entropy(logits, target)
