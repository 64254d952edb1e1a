"""The plain reference computations the fast engine paths are checked against.

transformers AutoModel / AutoModelForCausalLM in fp32, padded batches (left padding, as the
model cards pad), last-token pooling, L2 normalisation; full-vocabulary reranker logits.
They take token ids, so tokenisation (tested by the core suite) is held fixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NO_ID, YES_ID = 2152, 9693


def left_padded(rows, pad_id=151643):
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, T - len(r):] = torch.tensor(r)
        mask[b, T - len(r):] = 1
    return ids, mask


def reference_embed(model_dir, rows) -> torch.Tensor:
    """(N, H) normalised last-token states from AutoModel fp32 on one left-padded batch."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids, mask = left_padded(rows)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state  # (N, T, H)
    return F.normalize(hidden[:, -1], p=2, dim=-1)  # left padding: the last column is every row's last token


def reference_rerank(model_dir, rows) -> torch.Tensor:
    """(N,) P(yes) from AutoModelForCausalLM fp32 full logits at the last position."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids, mask = left_padded(rows)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1, :]  # (N, V)
    two = torch.stack([logits[:, NO_ID], logits[:, YES_ID]], dim=1)
    return torch.log_softmax(two, dim=1)[:, 1].exp()


def cosine(a, b) -> torch.Tensor:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return F.cosine_similarity(a, b, dim=-1)
