"""Embedder: text -> L2-normalised float32 vectors, for Qwen3-Embedding and encoder baselines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..config import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_QUERY_INSTRUCTION,
    MAX_CONTEXT,
    MRL_MIN_DIM,
    instruction_of_prompt,
)
from ..errors import InputLimitError
from ..model.layout import CheckpointLayout, read_layout
from ..model.loading import load_tokenizer
from ..model.resolve import resolve_model_path
from ..runtime.batching import length_sorted_batches, pad_batch
from ..runtime.packing import pack
from ..runtime.pooling import POOLERS, mrl_truncate
from ..runtime.tokenize import (
    DEFAULT_LIMITS,
    EmbeddingTokenizer,
    InputLimits,
    check_chars,
    check_texts,
)
from .loading import load_for_inference


class Embedder:
    """Embed queries and documents.

    >>> emb = Embedder.load("Qwen/Qwen3-Embedding-0.6B")
    >>> q = emb.encode_queries(["What is the capital of China?"])   # default web-search instruction
    >>> d = emb.encode_documents(["The capital of China is Beijing."])
    >>> float(q @ d.T)
    """

    def __init__(self, model, tokenizer, layout: CheckpointLayout, max_length: int | None = None, name: str = "",
                 allow_special_tokens: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.name = name or str(layout.root)
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.width = int(model.config.hidden_size)
        self.max_length = self._check_max_length(max_length, layout)
        # allow_special_tokens=False (default): control-token strings in text stay plain text (runtime/tokenize.py).
        self.allow_special_tokens = allow_special_tokens
        self._tok = EmbeddingTokenizer(tokenizer, layout.is_decoder, self.max_length, allow_special_tokens)
        self.vocab_size = int(model.get_input_embeddings().num_embeddings)
        self._pool = POOLERS[layout.pooling]
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0
        # Padding-free forward for Qwen3 decoders (see runtime/fast_qwen3.py); False = padded reference path.
        self.use_packing = layout.is_decoder and layout.pooling == "lasttoken"
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
    ) -> "Embedder":
        """Load from a local directory or a hub name.

        ``device``/``dtype`` None = the fastest faithful choice (see ``model.loading.pick_dtype``);
        ``dtype="float32"`` is the bit-faithful override. ``quantize="int8"``: opt-in int8 dynamic
        quantisation of the transformer blocks' linear layers (``runtime/quantize.py``).
        ``allow_special_tokens=True``: text may produce control tokens such as ``<|endoftext|>``, as in
        the reference code; by default it cannot (``runtime/tokenize.py``).
        A Qwen3-VL checkpoint gives a ``VLEmbedder`` (engine/vl.py), which also takes images.
        """
        root = resolve_model_path(name_or_path, revision=revision)
        layout = read_layout(root)
        if layout.is_vl:  # Qwen3-VL-Embedding: text, images or both (engine/vl.py)
            from .vl import VLEmbedder

            return VLEmbedder.from_layout(layout, device, dtype, quantize, max_length=max_length,
                                          name=str(name_or_path), allow_special_tokens=allow_special_tokens)
        model = load_for_inference(layout, device, dtype, quantize)
        return cls(model, load_tokenizer(layout), layout, max_length=max_length, name=str(name_or_path),
                   allow_special_tokens=allow_special_tokens)

    @staticmethod
    def _check_max_length(max_length: int | None, layout: CheckpointLayout) -> int:
        if layout.is_decoder:
            limit = MAX_CONTEXT
            default = DEFAULT_MAX_LENGTH
        else:
            limit = layout.max_seq_length or 512
            default = limit
        if max_length is None:
            return default
        if not 2 <= max_length <= limit:
            raise ValueError(f"max_length must be in 2..{limit} for this model, got {max_length}")
        return int(max_length)

    @property
    def kind(self) -> str:
        return "qwen3-embedding" if self.layout.is_decoder else f"encoder ({self.layout.model_type}, {self.layout.pooling} pooling)"

    @property
    def default_query_instruction(self) -> str | None:
        if not self.layout.is_decoder:
            return None
        return DEFAULT_QUERY_INSTRUCTION

    def check_dim(self, dim: int | None) -> int:
        return check_mrl_dim(dim, self.width)

    # -- the runtime contract (runtime/contract.py): prepare -> forward -> postprocess ------------

    @property
    def packed(self) -> bool:
        """True when batches run the padding-free packed forward (cost = sum of tokens)."""
        return self._fast_forward() is not None

    def prepare(self, texts: Sequence[str], instruction: str | None = None,
                limits: InputLimits | None = None) -> list[list[int]]:
        """Complete model rows for ``texts``: the instruction format, one EOS, truncation, the limits.

        ``InputLimitError`` (errors.py) names an input that breaks ``limits``.
        """
        limits = limits or DEFAULT_LIMITS
        extra = 0 if instruction is None else len(instruction)
        check_chars([len(t) + extra for t in texts], limits, texts, shared={"instruction": instruction})
        return self._tok(texts, instruction, self._token_limit(limits), limits.truncate)

    def prepare_ids(self, ids: Sequence[Sequence[int]], limits: InputLimits | None = None) -> list[list[int]]:
        """Complete model rows from client-given token ids (in the vocabulary), with the EOS guarantee."""
        for i, row in enumerate(ids):
            bad = next((t for t in row if not 0 <= t < self.vocab_size), None)
            if bad is not None:
                raise InputLimitError(f"holds token id {bad}; ids must be in 0..{self.vocab_size - 1}", index=i,
                                      code="invalid_token_id")
        limits = limits or DEFAULT_LIMITS
        return self._tok.fit_ids(ids, self._token_limit(limits), limits.truncate)

    def _token_limit(self, limits: InputLimits) -> int:
        return self.max_length if limits.max_tokens is None else min(limits.max_tokens, self.max_length)

    def forward(self, rows: list[list[int]]) -> torch.Tensor:
        """Pooled (B, H) float32 vectors for complete rows, before MRL and normalisation."""
        with torch.inference_mode():
            return self._forward(rows)

    def postprocess(self, hidden: torch.Tensor | np.ndarray, dim: int | None = None,
                    normalize: bool | None = None) -> np.ndarray:
        """(B, H) pooled states -> (B, dim) float32: the MRL prefix, L2-normalised unless the checkpoint
        has no Normalize module (``normalize`` None follows the checkpoint)."""
        if normalize is None:
            normalize = self.layout.normalize
        if isinstance(hidden, np.ndarray):
            hidden = torch.from_numpy(hidden)
        return mrl_truncate(hidden, dim, normalize).cpu().numpy()

    def tokenize(self, texts: Sequence[str], instruction: str | None = None) -> list[list[int]]:
        """Token ids exactly as ``encode`` feeds them to the model (EOS included)."""
        return self.prepare(list(texts), instruction)

    def encode(
        self,
        texts: Sequence[str] | str,
        instruction: str | None = None,
        dim: int | None = None,
        normalize: bool | None = None,
        batch_size: int = 32,
        max_batch_tokens: int | None = 16384,
        show_progress: bool = False,
    ) -> np.ndarray:
        """Embed ``texts``; returns float32 (N, dim or width). A single str returns (dim,).

        ``instruction`` turns the texts into queries (``Instruct: {instruction}\\nQuery:{text}``);
        leave it None for documents. ``normalize`` None follows the checkpoint: L2-normalised
        unless its sentence-transformers modules.json lists no Normalize module (a dot-product model).
        """
        if normalize is None:
            normalize = self.layout.normalize
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        check_texts(texts)
        out_dim = self.check_dim(dim)
        out = embed_prepared(self, self.prepare(texts, instruction), out_dim, dim, normalize, batch_size,
                             max_batch_tokens, show_progress)
        return out[0] if single else out

    def _forward(self, rows: list[list[int]]) -> torch.Tensor:
        fast = self._fast_forward()
        if fast is not None:
            return fast.last_hidden(pack(rows, self.device)).float()  # (B, H)
        input_ids, mask = pad_batch(rows, self.pad_id, side="right")  # (B, T), (B, T)
        input_ids, mask = input_ids.to(self.device), mask.to(self.device)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, H)
        return self._pool(hidden, mask).float()  # (B, H)

    @property
    def query_instruction(self) -> str | None:
        """The instruction ``encode_queries`` applies when none is given."""
        if self.layout.is_decoder:
            return self._instruction_from_prompts() or self.default_query_instruction
        return self.layout.prompts.get("query") or None

    def _fast_forward(self):
        """The packed forward over ``self.model`` (rebuilt if the model was swapped); None if off or unsupported."""
        from ..runtime.fast_qwen3 import packed_forward_for

        self._fast = packed_forward_for(self.model, self._fast) if self.use_packing else None
        return self._fast

    def encode_queries(self, queries: Sequence[str] | str, instruction: str | None = None, **kwargs) -> np.ndarray:
        """Queries get ``instruction`` (default: the model's query prompt, or the web-search task)."""
        if instruction is None:
            instruction = self.query_instruction
        return self.encode(queries, instruction=instruction, **kwargs)

    def encode_documents(self, documents: Sequence[str] | str, **kwargs) -> np.ndarray:
        """Documents are embedded as they are, with no instruction."""
        return self.encode(documents, instruction=None, **kwargs)

    def _instruction_from_prompts(self) -> str | None:
        prompt = self.layout.prompts.get("query")
        return instruction_of_prompt(prompt) if prompt and self.layout.is_decoder else None

    def __repr__(self) -> str:
        from ..runtime.quantize import quantization_of

        q = quantization_of(self.model)
        return (f"Embedder({self.name!r}, kind={self.kind}, width={self.width}, device={self.device}, dtype={self.dtype}"
                + (f", quantize={q}" if q else "") + ")")


def check_mrl_dim(dim: int | None, width: int) -> int:
    """The output width for ``dim=``: the model's width for None, else an MRL dim in MRL_MIN_DIM..width."""
    if dim is None:
        return width
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not MRL_MIN_DIM <= dim <= width:
        raise ValueError(f"dim must be an integer in {MRL_MIN_DIM}..{width} (MRL), got {dim!r}")
    return int(dim)


def embed_prepared(model, rows: list, out_dim: int, dim: int | None, normalize: bool | None, batch_size: int,
                   max_batch_tokens: int | None, show_progress: bool) -> np.ndarray:
    """(len(rows), out_dim) float32: prepared rows embedded in length-sorted batches, back in input order.

    One loop for the text Embedder and the Qwen3-VL one, which share the prepare -> forward ->
    postprocess contract (``model.packed`` picks the token-budget rule)."""
    out = np.zeros((len(rows), out_dim), dtype=np.float32)
    batches = list(length_sorted_batches(rows, batch_size, max_batch_tokens, model.packed))
    for batch in _progress(batches, show_progress, "embedding"):
        out[batch] = model.postprocess(model.forward([rows[i] for i in batch]), dim, normalize)
    return out


def _progress(items, enabled: bool, desc: str):
    if not enabled:
        return items
    from ..progress import tqdm

    return tqdm(items, desc=desc, unit="batch")
