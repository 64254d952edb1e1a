"""Reranking with the shared prompt computed once per query.

Every (query, document) pair starts with the same tokens: the system prompt and the
instruction, and for pairs of one query also the query (about 50-100 tokens in all). Their
keys and values do not depend on what follows (causal attention), so the common token prefix
is computed once and reused for every row; each row then costs only its own tokens.
Token-level (not text-level), so the reuse is exact.

When one query's documents span several batches, ``score_pairs`` passes the prefix length
shared by *all* of that query's rows and a :class:`PrefixMemo`, so the prefix is computed once
per query rather than once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .packing import common_prefix_length, pack

# Below this many shared tokens a separate prefix pass costs more than it saves.
MIN_SHARED_TOKENS = 8


class PrefixMemo:
    """The most recent prefix and its keys/values; batches arrive grouped by query, so one entry suffices."""

    def __init__(self):
        self.tokens: tuple[int, ...] | None = None
        self.cache = None

    def get(self, fast, tokens: tuple[int, ...]):
        if tokens != self.tokens:
            self.tokens, self.cache = tokens, fast.prefix_cache([list(tokens)])
        return self.cache


def last_hidden_shared_prefix(fast, rows: Sequence[Sequence[int]], device: torch.device,
                              prefix_len: int | None = None, memo: PrefixMemo | None = None) -> torch.Tensor:
    """(B, H) final hidden state at each row's last token, the rows' common prefix computed once.

    ``prefix_len``: a prefix length known to be shared by every row (and to leave each row a
    token of its own); default: the rows' own common prefix. ``memo`` reuses the previous batch's
    prefix when it is the same token sequence.
    """
    if prefix_len is None:
        prefix_len = common_prefix_length(rows) if len(rows) > 1 else 0
    n = prefix_len
    if n < MIN_SHARED_TOKENS:
        return fast.last_hidden(pack(rows, device))
    tokens = tuple(rows[0][:n])
    cache = memo.get(fast, tokens) if memo is not None else fast.prefix_cache([list(tokens)])
    tails = [r[n:] for r in rows]
    return fast.last_hidden(pack(tails, device, [n] * len(rows), [0] * len(rows)), cache)
