"""The contract every served model keeps: prepare inputs into token rows, forward a batch, postprocess.

``Embedder`` and ``Reranker`` (engine/) implement it; the library's ``encode``/``score``, the HTTP
server's batcher and retrieval all go through these three steps and nothing else, so one input
gets the same rows, the same limits and the same numbers whoever asks.

- ``prepare`` is the only place that formats instructions and templates, guarantees the EOS
  token, truncates, keeps control tokens out of user text and enforces the input limits
  (``InputLimits``; the instruction and a rerank query count toward them). It raises
  ``errors.InputLimitError`` for an input it refuses.
- ``forward(rows)`` runs one batch of complete rows; each row's result depends only on its own
  tokens, so rows from different callers may share a batch.
- ``packed`` picks the token-budget rule for this model (``batching.batch_cost``): the sum of
  tokens when packed, rows x longest when padded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from .tokenize import InputLimits


@runtime_checkable
class ModelRuntime(Protocol):
    name: str
    max_length: int

    @property
    def packed(self) -> bool: ...

    def prepare(self, inputs: Sequence[Any], instruction: str | None = None,
                limits: InputLimits | None = None) -> list[list[int]]: ...

    def forward(self, rows: list[list[int]]) -> torch.Tensor: ...

    def postprocess(self, out: torch.Tensor | np.ndarray, **options) -> np.ndarray: ...
