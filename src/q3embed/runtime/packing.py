"""Padding-free batches: sequences laid end to end in one (N,) row, with their boundaries.

A padded (B, T) batch of mixed-length texts spends most of its compute on pad tokens
(measured: 2.7x waste on log-normal SciFact lengths). Packing puts only real tokens through
the linear layers; attention stays per sequence: a varlen kernel, or masked SDPA over buckets of similar lengths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class PackedBatch:
    """B sequences of total length N, concatenated.

    With a cached prefix (a shared prompt computed once) before sequence b, its positions start
    after that prefix; ``prefix_group[b]`` says which cached prefix it is (-1: none).
    """

    input_ids: torch.Tensor  # (N,) long
    positions: torch.Tensor  # (N,) long: position of each token within its own sequence
    lengths: list[int]  # B own lengths, summing to N
    prefix_group: list[int]  # B indices into the cached prefixes (-1: none)

    @property
    def starts(self) -> list[int]:
        out, s = [], 0
        for n in self.lengths:
            out.append(s)
            s += n
        return out

    @property
    def last_index(self) -> torch.Tensor:
        """(B,) index of each sequence's last token in the packed row."""
        ends = torch.tensor(self.lengths, dtype=torch.long).cumsum(0) - 1
        return ends.to(self.input_ids.device)

    @property
    def num_tokens(self) -> int:
        return int(self.input_ids.shape[0])


def pack(rows: Sequence[Sequence[int]], device: torch.device | str = "cpu",
         prefix_lengths: Sequence[int] | None = None, prefix_group: Sequence[int] | None = None) -> PackedBatch:
    """Pack token-id rows; with ``prefix_lengths``, rows are continuations of cached prefixes."""
    if not rows or any(len(r) == 0 for r in rows):
        raise ValueError("pack needs at least one row, and every row needs at least one token")
    lengths = [len(r) for r in rows]
    plen = list(prefix_lengths) if prefix_lengths is not None else [0] * len(rows)
    group = list(prefix_group) if prefix_group is not None else [-1] * len(rows)
    ids = torch.tensor([t for r in rows for t in r], dtype=torch.long)
    positions = torch.cat([torch.arange(p, p + n) for p, n in zip(plen, lengths)])
    return PackedBatch(ids.to(device), positions.to(device), lengths, group)


def common_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """Length of the longest token prefix that all rows share, leaving each row >= 1 own token.

    Token-level (not text-level) so that reusing the prefix's keys/values is exact: the same
    ids at the same positions give the same keys and values under causal attention.
    """
    if not rows:
        return 0
    first = rows[0]
    n = min(len(r) for r in rows) - 1
    for r in rows[1:]:
        i = 0
        while i < n and r[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)
