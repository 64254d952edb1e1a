"""Reranker: P(yes) for (query, document) pairs with the Qwen3-Reranker chat template."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..config import DEFAULT_MAX_LENGTH, DEFAULT_RERANK_INSTRUCTION, MAX_CONTEXT, NO_TOKEN_ID, YES_TOKEN_ID
from ..model.layout import CheckpointLayout, read_layout
from ..model.loading import load_tokenizer
from .loading import load_for_inference
from ..runtime.pooling import last_token_pool
from ..model.resolve import resolve_model_path
from ..runtime.tokenize import DEFAULT_LIMITS, InputLimits, RerankTokenizer, check_chars, check_texts
from ..runtime.batching import grouped_length_sorted_batches, length_sorted_batches, pad_batch
from .embedder import _progress
from ..runtime.packing import common_prefix_length
from ..runtime.shared_prefix import PrefixMemo, last_hidden_shared_prefix


class Reranker:
    """Point-wise reranker. ``score`` returns P(yes) per document, float32.

    Only the hidden state at the last position goes through the LM head, and only the
    rows for "no" and "yes": a (B, 2) result instead of (B, T, 151669) logits.
    """

    def __init__(self, backbone, yes_no_head: torch.Tensor, tokenizer, layout: CheckpointLayout,
                 max_length: int | None = None, name: str = "", allow_special_tokens: bool = False):
        self.model = backbone
        self.head = yes_no_head  # (2, H): rows for "no", "yes"
        self.tokenizer = tokenizer
        self.layout = layout
        self.name = name or str(layout.root)
        self.device = yes_no_head.device
        self.dtype = yes_no_head.dtype
        if max_length is None:
            max_length = DEFAULT_MAX_LENGTH
        if not 64 <= max_length <= MAX_CONTEXT:
            raise ValueError(f"max_length must be in 64..{MAX_CONTEXT}, got {max_length}")
        self.max_length = max_length
        # allow_special_tokens=False (default): no control token from the query, document or instruction,
        # so a document cannot close the user turn and write the answer (runtime/tokenize.py).
        self.allow_special_tokens = allow_special_tokens
        self._tok = RerankTokenizer(tokenizer, max_length, allow_special_tokens)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0
        # Padding-free forward with each query's prompt computed once (runtime/shared_prefix.py);
        # False = padded reference path.
        self.use_packing = True
        self._fast = None

    @classmethod
    def load(
        cls,
        name_or_path: str | Path,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        max_length: int | None = None,
        revision: str | None = None,
        quantize: str | None = None,
        allow_special_tokens: bool = False,
    ) -> "Reranker":
        """Load a Qwen3-Reranker; ``device``/``dtype``/``quantize``/``allow_special_tokens`` as in ``Embedder.load``.
        A Qwen3-VL checkpoint gives a ``VLReranker`` (engine/vl.py)."""
        root = resolve_model_path(name_or_path, revision=revision)
        layout = read_layout(root)
        if layout.is_vl:  # Qwen3-VL-Reranker: queries and documents of text, images or both (engine/vl.py)
            from .vl import VLReranker

            return VLReranker.from_layout(layout, device, dtype, quantize, max_length=max_length,
                                          name=str(name_or_path), allow_special_tokens=allow_special_tokens)
        layout.require("reranker")  # an embedding checkpoint would score with a random head
        lm = load_for_inference(layout, device, dtype, quantize, causal_lm=True)
        head = lm.get_output_embeddings().weight[[NO_TOKEN_ID, YES_TOKEN_ID]].detach().clone()  # (2, H)
        backbone = lm.model
        del lm  # drop the full (V, H) LM head when it is not tied to the input embeddings
        return cls(backbone, head, load_tokenizer(layout), layout, max_length=max_length, name=str(name_or_path),
                   allow_special_tokens=allow_special_tokens)

    def score(self, query: str, documents: Sequence[str], instruction: str | None = None, **kwargs) -> np.ndarray:
        """P(yes) for each document against one query."""
        if not isinstance(query, str):
            raise TypeError(f"query is {type(query).__name__}; it must be a str")
        documents = [documents] if isinstance(documents, str) else list(documents)
        check_texts(documents, "documents")
        return self.score_pairs([(query, d) for d in documents], instruction=instruction, **kwargs)

    def score_pairs(
        self,
        pairs: Sequence[tuple[str, str]],
        instruction: str | None = None,
        batch_size: int = 16,
        max_batch_tokens: int | None = 16384,
        show_progress: bool = False,
    ) -> np.ndarray:
        """P(yes) for each (query, document) pair."""
        pairs = list(pairs)
        for i, p in enumerate(pairs):
            if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(x, str) for x in p)):
                raise TypeError(f"pairs[{i}] must be a (query, document) pair of str, got {p!r:.80}")
        ids = self.prepare(pairs, instruction)
        out = np.zeros(len(pairs), dtype=np.float32)
        queries = [q for q, _ in pairs]
        prefix_len: dict[str, int] = {}
        packed = self.packed
        if packed and len(set(queries)) * batch_size <= len(pairs):
            # Enough documents per query to fill batches: keep each batch to one query, and compute
            # the prompt that all of a query's rows share once for all its batches (runtime/shared_prefix.py).
            batches = list(grouped_length_sorted_batches(ids, queries, batch_size, max_batch_tokens, packed))
            rows_of: dict[str, list[list[int]]] = {}
            for q, r in zip(queries, ids):
                rows_of.setdefault(q, []).append(r)
            prefix_len = {q: common_prefix_length(rows) for q, rows in rows_of.items() if len(rows) > 1}
        else:
            batches = list(length_sorted_batches(ids, batch_size, max_batch_tokens, packed))
        memo = PrefixMemo()
        with torch.inference_mode():
            for batch in _progress(batches, show_progress, "reranking"):
                n = prefix_len.get(queries[batch[0]])
                out[batch] = self._forward([ids[i] for i in batch], n, memo).cpu().numpy()
        return out

    # -- the runtime contract (runtime/contract.py): prepare -> forward -> postprocess ------------

    @property
    def packed(self) -> bool:
        """True when batches run the padding-free packed forward (cost = sum of tokens)."""
        return self._fast_forward() is not None

    @property
    def template_tokens(self) -> int:
        """Tokens of the fixed chat template around every pair."""
        return self._tok.fixed

    def prepare(self, pairs: Sequence[tuple[str, str]], instruction: str | None = None,
                limits: InputLimits | None = None) -> list[list[int]]:
        """Complete template rows for (query, document) pairs: the template, truncation, the limits.

        The instruction and the query count toward the character limits once per pair.
        ``InputLimitError`` (errors.py) names a pair that breaks ``limits``.
        """
        instruction = DEFAULT_RERANK_INSTRUCTION if instruction is None else instruction
        limits = limits or DEFAULT_LIMITS
        queries = {q for q, _ in pairs}
        one_query = next(iter(queries)) if len(queries) == 1 else None  # one query for all: named as "query"
        check_chars([len(instruction) + len(q) + len(d) for q, d in pairs], limits,
                    [d if one_query is not None else q + d for q, d in pairs],
                    shared={"instruction": instruction, "query": one_query})
        return self._tok(pairs, instruction, limits.max_tokens, limits.truncate)

    def forward(self, rows: list[list[int]]) -> torch.Tensor:
        """P(yes) (B,) for complete template rows."""
        with torch.inference_mode():
            return self._forward(rows)

    def postprocess(self, scores: torch.Tensor | np.ndarray) -> np.ndarray:
        """(B,) P(yes) as float32 numpy."""
        if isinstance(scores, torch.Tensor):
            scores = scores.cpu().numpy()
        return np.asarray(scores, dtype=np.float32)

    def _forward(self, rows: list[list[int]], prefix_len: int | None = None, memo: PrefixMemo | None = None) -> torch.Tensor:
        fast = self._fast_forward()
        if fast is not None:  # packed, with the rows' shared prompt computed once (runtime/shared_prefix.py)
            return self._yes_probability(last_hidden_shared_prefix(fast, rows, self.device, prefix_len, memo))  # (B,)
        input_ids, mask = pad_batch(rows, self.pad_id, side="right")  # (B, T)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, H)
        return self._yes_probability(last_token_pool(hidden, mask))  # (B,)

    def _yes_probability(self, last: torch.Tensor) -> torch.Tensor:
        """last: (B, H) final hidden states -> (B,) float32 P(yes)."""
        logits = (last @ self.head.T).float()  # (B, 2): [no, yes]
        return torch.log_softmax(logits, dim=-1)[:, 1].exp()  # (B,)

    def _fast_forward(self):
        """The packed forward over ``self.model`` (rebuilt if the model was swapped); None if off or unsupported."""
        from ..runtime.fast_qwen3 import packed_forward_for

        self._fast = packed_forward_for(self.model, self._fast) if self.use_packing else None
        return self._fast

    def document_room(self, query: str, instruction: str | None = None) -> int:
        """Tokens each document keeps next to this query; <= 0 means truncation leaves no document at all."""
        return self._tok.document_room(query, DEFAULT_RERANK_INSTRUCTION if instruction is None else instruction)

    def rank(self, query: str, documents: Sequence[str], top_n: int | None = None, instruction: str | None = None,
             **kwargs) -> list[tuple[int, float]]:
        """(index, score) pairs, best first."""
        scores = self.score(query, documents, instruction=instruction, **kwargs)
        order = np.argsort(-scores, kind="stable")[: top_n]
        return [(int(i), float(scores[i])) for i in order]

    def __repr__(self) -> str:
        return f"Reranker({self.name!r}, device={self.device}, dtype={self.dtype})"
