"""Length-aware batching: sort by length so each batch pads little, then restore order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def batch_cost(rows: int, tokens: int, longest: int, packed: bool) -> int:
    """The one token-budget rule: what a forward pass over a batch costs, in tokens.

    Packed forwards (the Qwen3 runtime, ``fast_qwen3.py``) compute exactly the tokens they are
    given: the cost is their sum. Padded forwards (encoders, the transformers reference path)
    compute every row at the longest row's length: rows x longest. The library's batches, the
    server's batcher (merging and splitting) and its metrics all count with this rule.
    """
    return tokens if packed else rows * longest


def length_sorted_batches(
    token_ids: Sequence[Sequence[int]], batch_size: int, max_batch_tokens: int | None = None, packed: bool = False
) -> Iterator[list[int]]:
    """Yield lists of indices into ``token_ids``, longest texts first.

    A batch closes when it holds ``batch_size`` texts or when its cost (``batch_cost``: padded
    rows x longest, or the sum of tokens when ``packed``) would pass ``max_batch_tokens``.
    Longest-first means the first batch is the biggest, so an out-of-memory error shows up at
    once rather than at the end.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = sorted(range(len(token_ids)), key=lambda i: -len(token_ids[i]))
    batch: list[int] = []
    longest = tokens = 0
    for i in order:
        n = len(token_ids[i])
        if batch and (
            len(batch) >= batch_size
            or (max_batch_tokens is not None
                and batch_cost(len(batch) + 1, tokens + n, max(longest, n), packed) > max_batch_tokens)
        ):
            yield batch
            batch, longest, tokens = [], 0, 0
        batch.append(i)
        longest, tokens = max(longest, n), tokens + n
    if batch:
        yield batch


def pad_batch(rows: Sequence[Sequence[int]], pad_id: int, side: str = "right") -> tuple[torch.Tensor, torch.Tensor]:
    """Pad to a (B, T) id tensor and a (B, T) attention mask."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        if side == "right":
            ids[b, : len(r)] = torch.as_tensor(r)
            mask[b, : len(r)] = 1
        else:
            ids[b, T - len(r):] = torch.as_tensor(r)
            mask[b, T - len(r):] = 1
    return ids, mask


def grouped_length_sorted_batches(
    token_ids: Sequence[Sequence[int]], keys: Sequence[object], batch_size: int, max_batch_tokens: int | None = None,
    packed: bool = False,
) -> Iterator[list[int]]:
    """Like :func:`length_sorted_batches`, but a batch only holds rows with one key.

    For the reranker the key is the query: a batch of one query's documents shares the whole
    prompt up to the document, which the packed forward then computes once.
    """
    groups: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    for members in groups.values():
        for batch in length_sorted_batches([token_ids[i] for i in members], batch_size, max_batch_tokens, packed):
            yield [members[j] for j in batch]
