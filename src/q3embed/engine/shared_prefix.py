"""Reranking with the shared prompt computed once per query.

Every (query, document) pair of one query starts with the same tokens: the system prompt,
the instruction and the query (about 60-100 tokens). Their keys and values do not depend on
what follows (causal attention), so they are computed once per query and reused for all of
its documents; each document then costs only its own tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .batching import length_sorted_batches
from .packing import common_prefix_length, pack

# Below this many shared tokens a separate prefix pass costs more than it saves.
MIN_SHARED_TOKENS = 8


@dataclass
class PrefixGroup:
    prefix: list[int]  # shared token ids
    members: list[int]  # indices of the rows that continue it


def group_by_prefix(ids: Sequence[Sequence[int]], keys: Sequence[object]) -> tuple[list[PrefixGroup], list[int]]:
    """Rows with the same key (e.g. the query) and >= 2 members share a prefix; the rest go alone."""
    by_key: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    groups, alone = [], []
    for members in by_key.values():
        n = common_prefix_length([ids[i] for i in members]) if len(members) > 1 else 0
        if n >= MIN_SHARED_TOKENS:
            groups.append(PrefixGroup(list(ids[members[0]][:n]), members))
        else:
            alone.extend(members)
    return groups, alone


def last_hidden_with_shared_prefix(
    fast, ids: Sequence[Sequence[int]], keys: Sequence[object], batch_size: int,
    max_batch_tokens: int | None, progress: Callable = lambda xs: xs,
) -> torch.Tensor:
    """(N, H) final hidden state at each row's last token, reusing each group's prefix."""
    device = next(fast.model.parameters()).device
    groups, alone = group_by_prefix(ids, keys)
    out: torch.Tensor | None = None
    jobs = []  # (row indices, token rows, prefix group or None)
    for g in groups:
        n = len(g.prefix)
        tails = [ids[i][n:] for i in g.members]
        for batch in length_sorted_batches(tails, batch_size, max_batch_tokens):
            jobs.append(([g.members[j] for j in batch], [tails[j] for j in batch], g))
    for batch in length_sorted_batches([ids[i] for i in alone], batch_size, max_batch_tokens):
        jobs.append(([alone[j] for j in batch], [ids[alone[j]] for j in batch], None))
    cache, cached_for = None, None
    for rows_idx, rows, g in progress(jobs):
        if g is None:
            hidden = fast.last_hidden(pack(rows, device))  # (b, H)
        else:
            if cached_for is not g:  # jobs of one group are consecutive: one prefix pass per group
                cache, cached_for = fast.prefix_cache([g.prefix]), g
            n = len(g.prefix)
            hidden = fast.last_hidden(pack(rows, device, [n] * len(rows), [0] * len(rows)), cache)
        if out is None:
            out = hidden.new_empty((len(ids), hidden.shape[-1]))
        out[torch.as_tensor(rows_idx, device=hidden.device)] = hidden
    return out
