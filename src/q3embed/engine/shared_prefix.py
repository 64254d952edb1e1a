"""Reranking with the shared prompt computed once per batch.

Every (query, document) pair starts with the same tokens: the system prompt and the
instruction, and for pairs of one query also the query (about 50-100 tokens in all). Their
keys and values do not depend on what follows (causal attention), so a batch computes its
rows' common token prefix once and reuses it for every row; each row then costs only its
own tokens. Token-level (not text-level), so the reuse is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .packing import common_prefix_length, pack

# Below this many shared tokens a separate prefix pass costs more than it saves.
MIN_SHARED_TOKENS = 8


def last_hidden_shared_prefix(fast, rows: Sequence[Sequence[int]], device: torch.device) -> torch.Tensor:
    """(B, H) final hidden state at each row's last token, the rows' common prefix computed once."""
    n = common_prefix_length(rows) if len(rows) > 1 else 0
    if n < MIN_SHARED_TOKENS:
        return fast.last_hidden(pack(rows, device))
    cache = fast.prefix_cache([list(rows[0][:n])])
    tails = [r[n:] for r in rows]
    return fast.last_hidden(pack(tails, device, [n] * len(rows), [0] * len(rows)), cache)
