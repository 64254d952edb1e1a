"""The Qwen3 Embedding paper's InfoNCE with its full partition function and false-negative mask.

    L = -1/N sum_i log( e^{s(q_i,d_i+)/tau} / Z_i )
    Z_i = e^{s(q_i,d_i+)/tau} + sum_k m_ik e^{s(q_i,d_ik-)/tau}      hard negatives
                              + sum_j m_ij e^{s(q_i,d_j)/tau}         in-batch documents
                              + sum_{j!=i} m_ij e^{s(q_i,q_j)/tau}    in-batch queries
                              + sum_j m_ij e^{s(d_i+,d_j)/tau}        in-batch document-document

s is cosine similarity. "In-batch documents" d_j are all documents of the other rows: their
positives and, when hard negatives are on, their hard negatives. The mask m drops a term whose
score exceeds s(q_i,d_i+) + margin (a likely false negative), or whose document is the same
text as d_i+ (two queries sharing a positive). Every term group can be switched off, which
gives plain in-batch InfoNCE as the special case (in-batch documents only, no mask).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class InfoNCELoss(nn.Module):
    def __init__(self, temperature: float = 0.05, hard_negatives: bool = True, in_batch_documents: bool = True,
                 in_batch_queries: bool = True, in_batch_doc_doc: bool = True, false_negative_mask: bool = True,
                 mask_margin: float = 0.1):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.hard_negatives = hard_negatives
        self.in_batch_documents = in_batch_documents
        self.in_batch_queries = in_batch_queries
        self.in_batch_doc_doc = in_batch_doc_doc
        self.false_negative_mask = false_negative_mask
        self.mask_margin = mask_margin

    @classmethod
    def from_config(cls, cfg) -> "InfoNCELoss":
        return cls(cfg.temperature, cfg.hard_negatives, cfg.in_batch_documents, cfg.in_batch_queries,
                   cfg.in_batch_doc_doc, cfg.false_negative_mask, cfg.mask_margin)

    def forward(self, q: torch.Tensor, d_pos: torch.Tensor, d_neg: torch.Tensor | None = None,
                pos_keys: torch.Tensor | None = None, neg_keys: torch.Tensor | None = None) -> torch.Tensor:
        """q: (N, H) queries; d_pos: (N, H) positives; d_neg: (N, K, H) hard negatives or None.

        pos_keys (N,) and neg_keys (N, K) are integer text ids; equal ids mean identical
        documents. Embeddings need not be normalised. Returns the scalar mean loss.
        """
        N = q.shape[0]
        q, d_pos = F.normalize(q.float(), dim=-1), F.normalize(d_pos.float(), dim=-1)
        use_neg = self.hard_negatives and d_neg is not None and d_neg.shape[1] > 0
        K = d_neg.shape[1] if use_neg else 0
        if use_neg:
            d_neg = F.normalize(d_neg.float(), dim=-1)  # (N, K, H)
        dev = q.device
        rows = torch.arange(N, device=dev)
        if pos_keys is None:  # without ids, only the score rule can find false negatives
            pos_keys = -1 - rows  # distinct negative ids never collide with real keys (>= 0)
        if use_neg and neg_keys is None:
            neg_keys = -1 - N - torch.arange(N * K, device=dev).view(N, K)

        s_pos = (q * d_pos).sum(-1)  # (N,)
        limit = s_pos.detach().unsqueeze(1) + self.mask_margin  # (N, 1): scores above it are masked
        groups: list[torch.Tensor] = []

        def add(scores: torch.Tensor, keep: torch.Tensor, same_doc: torch.Tensor | None) -> None:
            if self.false_negative_mask:
                keep = keep & ~(scores > limit)
                if same_doc is not None:
                    keep = keep & ~same_doc
            groups.append(scores.masked_fill(~keep, float("-inf")))

        # Every document in the batch, and which row it belongs to.
        docs, owner, keys = d_pos, rows, pos_keys  # (D, H), (D,), (D,)
        if use_neg:
            docs = torch.cat([d_pos, d_neg.reshape(N * K, -1)])  # (N + N*K, H)
            owner = torch.cat([rows, rows.repeat_interleave(K)])
            keys = torch.cat([pos_keys, neg_keys.reshape(-1)])
        other_row = owner.unsqueeze(0) != rows.unsqueeze(1)  # (N, D): d_j belongs to another row
        same_as_pos = keys.unsqueeze(0) == pos_keys.unsqueeze(1)  # (N, D): d_j is the text of d_i+

        if use_neg:
            s_neg = torch.einsum("nh,nkh->nk", q, d_neg)  # (N, K)
            add(s_neg, torch.ones_like(s_neg, dtype=torch.bool), neg_keys == pos_keys.unsqueeze(1))
        if self.in_batch_documents:
            add(q @ docs.T, other_row, same_as_pos)  # (N, D)
        if self.in_batch_queries:
            add(q @ q.T, rows.unsqueeze(0) != rows.unsqueeze(1), None)  # (N, N)
        if self.in_batch_doc_doc:
            add(d_pos @ docs.T, other_row, same_as_pos)  # (N, D)

        logits = torch.cat([s_pos.unsqueeze(1), *groups], dim=1) / self.temperature  # (N, 1 + terms)
        # -log(e^{s+/tau} / Z_i) = logsumexp(all kept terms) - s+/tau; masked terms are -inf.
        return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()
