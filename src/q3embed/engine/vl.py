"""Qwen3-VL-Embedding and Qwen3-VL-Reranker: text, images, or both, exactly as the official code.

``Embedder.load`` / ``Reranker.load`` return these for a ``qwen3_vl`` checkpoint, so callers keep
one entry point. The API mirrors the text classes and the runtime contract
(runtime/contract.py):

    emb = Embedder.load("Qwen/Qwen3-VL-Embedding-2B")          # -> VLEmbedder
    q = emb.encode_queries(["a red bicycle"])                   # (1, 2048) float32, L2-normalised
    d = emb.encode([{"image": "photo.png"}, {"text": "caption", "image": png_bytes}, "plain text"])
    rows = emb.prepare(inputs, instruction)                     # VLRow: ids + prepared images
    vecs = emb.postprocess(emb.forward(rows), dim=256)          # MRL

    rr = Reranker.load("Qwen/Qwen3-VL-Reranker-2B")             # -> VLReranker
    rr.score("a red bicycle", [{"image": "a.png"}, "a text document"])   # P(yes) per document

An input is a ``MediaInput`` or anything ``data.media.as_media_input`` takes: a str is text; a
dict ``{"text": ..., "image": ...}`` / ``{"images": [...]}``; a ``Path``, ``bytes`` or PIL image is
an image. Images are decoded with the bounds of ``ImageLimits`` (``image_limits=``) and resized
within ``min_pixels``..``max_pixels`` (runtime/vision.py). A bad image raises ``ImageInputError``
naming the input; it is never replaced by a placeholder.

Rows are ``VLRow``s (runtime/vl_prompt.py): ``len(row)`` counts the vision tokens, so the token
budget of a batch (``max_batch_tokens``, the server's batcher) covers images too. Batches run
padded (right padding) through transformers' ``Qwen3VLModel``; ``packed`` is False.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DEFAULT_MAX_LENGTH, MAX_CONTEXT
from ..data.media import DEFAULT_IMAGE_LIMITS, ImageLimits, MediaInput, as_media_input, load_images
from ..model.layout import CheckpointLayout
from ..model.loading import load_tokenizer
from ..runtime.batching import length_sorted_batches
from ..runtime.pooling import mrl_truncate
from ..runtime.tokenize import DEFAULT_LIMITS, InputLimits, check_chars
from ..runtime.vision import VisionPreprocess, prepare_image
from ..runtime.vl_forward import last_hidden
from ..runtime.vl_prompt import VLPromptBuilder, VLRow
from .embedder import _progress, check_mrl_dim, embed_prepared
from .loading import load_for_inference

VL_QUERY_INSTRUCTION = "Retrieve images or text relevant to the user's query."
VL_RERANK_MAX_LENGTH = 10240  # the official reranker's default


def is_single_input(x: Any) -> bool:
    """One input rather than a list of them (a str, dict, MediaInput, Path, bytes or PIL image)."""
    return isinstance(x, (str, dict, MediaInput, Path, bytes, bytearray)) or hasattr(x, "getpixel")


class _VLBase:
    """What the VL embedder and reranker share: tokenizer, image settings, input decoding."""

    def __init__(self, model, tokenizer, layout: CheckpointLayout, max_length: int, name: str,
                 allow_special_tokens: bool, min_pixels: int | None, max_pixels: int | None,
                 image_limits: ImageLimits | None):
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.name = name or str(layout.root)
        if not 64 <= max_length <= MAX_CONTEXT:
            raise ValueError(f"max_length must be in 64..{MAX_CONTEXT}, got {max_length}")
        self.max_length = int(max_length)
        self.allow_special_tokens = allow_special_tokens
        self.vision = VisionPreprocess.from_checkpoint(layout.model_dir, min_pixels=min_pixels, max_pixels=max_pixels)
        self.image_limits = image_limits or DEFAULT_IMAGE_LIMITS
        self._prompt = VLPromptBuilder(tokenizer, allow_special_tokens)
        self.image_token_id = self._prompt.id["<|image_pad|>"]
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self._prompt.id["<|endoftext|>"]

    @property
    def packed(self) -> bool:
        return False  # padded batches: cost = rows x longest row

    @property
    def is_vl(self) -> bool:
        return True

    def _media(self, inputs: Sequence[Any], field: str) -> list[MediaInput]:
        return [as_media_input(x, i, field) for i, x in enumerate(inputs)]

    def _prepared_images(self, media: list[MediaInput], image_limits: ImageLimits | None, field: str):
        """Per input, its images decoded (bounded) and turned into patches; errors name the input."""
        from ..data.media import ImageInputError

        decoded = load_images(media, image_limits or self.image_limits, field)
        out = []
        for i, imgs in enumerate(decoded):
            try:
                out.append([prepare_image(im, self.vision) for im in imgs])
            except ValueError as e:  # e.g. an aspect ratio past 200:1
                raise ImageInputError(f"an image {e}", index=i, field=field) from None
        return out

    def _check_text(self, media: list[MediaInput], limits: InputLimits, extra: int = 0,
                    shared: dict[str, str | None] | None = None) -> None:
        texts = [m.text or "" for m in media]
        check_chars([len(t) + extra for t in texts], limits, texts, shared=shared)


class VLEmbedder(_VLBase):
    """Qwen3-VL-Embedding: text, images or both -> one L2-normalised vector (see the module docstring)."""

    def __init__(self, model, tokenizer, layout: CheckpointLayout, max_length: int | None = None, name: str = "",
                 allow_special_tokens: bool = False, min_pixels: int | None = None, max_pixels: int | None = None,
                 image_limits: ImageLimits | None = None):
        super().__init__(model, tokenizer, layout, max_length or DEFAULT_MAX_LENGTH, name, allow_special_tokens,
                         min_pixels, max_pixels, image_limits)
        param = next(model.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.width = int(model.config.text_config.hidden_size)

    @classmethod
    def from_layout(cls, layout: CheckpointLayout, device=None, dtype=None, quantize: str | None = None,
                    **kwargs) -> "VLEmbedder":
        model = load_for_inference(layout, device, dtype, quantize)
        return cls(model, load_tokenizer(layout), layout, **kwargs)

    kind = "qwen3-vl-embedding"
    default_query_instruction = VL_QUERY_INSTRUCTION
    query_instruction = VL_QUERY_INSTRUCTION

    def check_dim(self, dim: int | None) -> int:
        return check_mrl_dim(dim, self.width)

    # -- the runtime contract: prepare -> forward -> postprocess --------------------------------

    def prepare(self, inputs: Sequence[Any], instruction: str | None = None, limits: InputLimits | None = None,
                image_limits: ImageLimits | None = None, field: str = "inputs") -> list[VLRow]:
        """Model rows (``VLRow``) for ``inputs``: the official prompt, images decoded within bounds and
        resized, truncation of the text only. ``InputLimitError``/``ImageInputError`` name a bad input."""
        limits = limits or DEFAULT_LIMITS
        media = self._media(inputs, field)
        self._check_text(media, limits, len(instruction or ""), {"instruction": instruction})
        images = self._prepared_images(media, image_limits, field)
        max_tokens = self.max_length if limits.max_tokens is None else min(limits.max_tokens, self.max_length)
        return [self._prompt.embedding_row(m.text, ims, instruction, max_tokens, limits.truncate, i)
                for i, (m, ims) in enumerate(zip(media, images))]

    def forward(self, rows: list[VLRow]) -> torch.Tensor:
        """(B, H) float32 final-norm states of each row's last token, before MRL and normalisation."""
        with torch.inference_mode():
            return last_hidden(self.model, rows, self.pad_id, self.image_token_id).float()

    def postprocess(self, hidden: torch.Tensor | np.ndarray, dim: int | None = None,
                    normalize: bool | None = None) -> np.ndarray:
        """(B, H) -> (B, dim) float32: the MRL prefix, L2-normalised (unless ``normalize=False``)."""
        if isinstance(hidden, np.ndarray):
            hidden = torch.from_numpy(hidden)
        return mrl_truncate(hidden, dim, self.layout.normalize if normalize is None else normalize).cpu().numpy()

    # -- the library API --------------------------------------------------------------------------

    def encode(self, inputs, instruction: str | None = None, dim: int | None = None, normalize: bool | None = None,
               batch_size: int = 8, max_batch_tokens: int | None = 16384, show_progress: bool = False) -> np.ndarray:
        """Embed inputs (texts, images, mixes); float32 (N, dim or width). A single input gives (dim,).

        ``instruction`` None uses the model's default ("Represent the user's input."), which is
        what documents get; ``encode_queries`` applies a retrieval instruction.
        """
        single = is_single_input(inputs)
        inputs = [inputs] if single else list(inputs)
        out_dim = self.check_dim(dim)
        out = embed_prepared(self, self.prepare(inputs, instruction), out_dim, dim, normalize, batch_size,
                             max_batch_tokens, show_progress)
        return out[0] if single else out

    def encode_queries(self, queries, instruction: str | None = None, **kwargs) -> np.ndarray:
        return self.encode(queries, instruction=instruction or self.query_instruction, **kwargs)

    def encode_documents(self, documents, **kwargs) -> np.ndarray:
        return self.encode(documents, instruction=None, **kwargs)

    def tokenize(self, inputs, instruction: str | None = None) -> list[list[int]]:
        return [list(r) for r in self.prepare(list(inputs), instruction)]

    def __repr__(self) -> str:
        return (f"VLEmbedder({self.name!r}, width={self.width}, vision_layers={self.layout.vision_layers}, "
                f"device={self.device}, dtype={self.dtype})")


class VLReranker(_VLBase):
    """Qwen3-VL-Reranker: P(yes) for (query, document) pairs whose sides are text, images or both."""

    def __init__(self, backbone, yes_no_head: torch.Tensor, tokenizer, layout: CheckpointLayout,
                 max_length: int | None = None, name: str = "", allow_special_tokens: bool = False,
                 min_pixels: int | None = None, max_pixels: int | None = None,
                 image_limits: ImageLimits | None = None):
        super().__init__(backbone, tokenizer, layout, max_length or VL_RERANK_MAX_LENGTH, name, allow_special_tokens,
                         min_pixels, max_pixels, image_limits)
        self.head = yes_no_head  # (2, H): rows for "no", "yes"
        self.device, self.dtype = yes_no_head.device, yes_no_head.dtype

    @classmethod
    def from_layout(cls, layout: CheckpointLayout, device=None, dtype=None, quantize: str | None = None,
                    **kwargs) -> "VLReranker":
        layout.require("reranker")
        lm = load_for_inference(layout, device, dtype, quantize, causal_lm=True)
        tokenizer = load_tokenizer(layout)
        vocab = tokenizer.get_vocab()
        head = lm.get_output_embeddings().weight[[vocab["no"], vocab["yes"]]].detach().clone()  # (2, H)
        backbone = lm.model
        del lm
        return cls(backbone, head, tokenizer, layout, **kwargs)

    kind = "qwen3-vl-reranker"

    def prepare(self, pairs: Sequence[tuple[Any, Any]], instruction: str | None = None,
                limits: InputLimits | None = None, image_limits: ImageLimits | None = None,
                field: str = "documents") -> list[VLRow]:
        """Template rows for (query, document) pairs; each side text, image(s) or both."""
        limits = limits or DEFAULT_LIMITS
        queries = self._media([q for q, _ in pairs], "query")
        docs = self._media([d for _, d in pairs], field)
        extra = len(instruction or "")
        self._check_text([MediaInput(text=(q.text or "") + (d.text or "")) for q, d in zip(queries, docs)], limits,
                         extra, {"instruction": instruction})
        # a query shared by every pair is decoded once
        shared = len({id(q) for q, _ in pairs}) == 1 and len(pairs) > 0
        q_images = self._prepared_images(queries[:1] if shared else queries, image_limits, "query")
        if shared:
            q_images = q_images * len(pairs)
        d_images = self._prepared_images(docs, image_limits, field)
        max_tokens = self.max_length if limits.max_tokens is None else min(limits.max_tokens, self.max_length)
        return [self._prompt.rerank_row((q.text, qi), (d.text, di), instruction, max_tokens, limits.truncate, i)
                for i, (q, qi, d, di) in enumerate(zip(queries, q_images, docs, d_images))]

    def forward(self, rows: list[VLRow]) -> torch.Tensor:
        """P(yes) (B,) float32 for complete rows."""
        with torch.inference_mode():
            last = last_hidden(self.model, rows, self.pad_id, self.image_token_id)  # (B, H)
            logits = (last @ self.head.T).float()  # (B, 2): [no, yes]
            return torch.log_softmax(logits, dim=-1)[:, 1].exp()

    def postprocess(self, scores: torch.Tensor | np.ndarray) -> np.ndarray:
        if isinstance(scores, torch.Tensor):
            scores = scores.cpu().numpy()
        return np.asarray(scores, dtype=np.float32)

    def score(self, query, documents, instruction: str | None = None, **kwargs) -> np.ndarray:
        """P(yes) for each document (text, image, or both) against one query (text, image, or both)."""
        documents = [documents] if is_single_input(documents) else list(documents)
        return self.score_pairs([(query, d) for d in documents], instruction=instruction, **kwargs)

    def score_pairs(self, pairs, instruction: str | None = None, batch_size: int = 4,
                    max_batch_tokens: int | None = 16384, show_progress: bool = False) -> np.ndarray:
        pairs = list(pairs)
        rows = self.prepare(pairs, instruction)
        out = np.zeros(len(rows), dtype=np.float32)
        for batch in _progress(list(length_sorted_batches(rows, batch_size, max_batch_tokens, False)), show_progress,
                               "reranking"):
            out[batch] = self.postprocess(self.forward([rows[i] for i in batch]))
        return out

    def rank(self, query, documents, top_n: int | None = None, instruction: str | None = None,
             **kwargs) -> list[tuple[int, float]]:
        scores = self.score(query, documents, instruction=instruction, **kwargs)
        order = np.argsort(-scores, kind="stable")[:top_n]
        return [(int(i), float(scores[i])) for i in order]

    def __repr__(self) -> str:
        return f"VLReranker({self.name!r}, device={self.device}, dtype={self.dtype})"

