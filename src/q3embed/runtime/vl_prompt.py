"""Qwen3-VL model rows: the official embedding and reranker prompts, built as token ids.

A row is a ``VLRow``: a list of token ids (so ``len(row)`` is its token cost, vision tokens
included, and the batching rules of the text models apply unchanged) that also carries its
prepared images in prompt order.

Embedding (what the official ``Qwen3VLEmbedder`` renders through the checkpoint's chat template)::

    <|im_start|>system\\n{instruction}<|im_end|>\\n<|im_start|>user\\n
    [<|vision_start|><|image_pad|> x n<|vision_end|>] per image, then the text
    <|im_end|>\\n<|im_start|>assistant\\n

The instruction defaults to "Represent the user's input."; one without final punctuation gets a
full stop. The vector is the final hidden state (after the final norm) of the last token.

Reranker (the official ``Qwen3VLReranker``)::

    <|im_start|>system\\nJudge whether the Document meets ... "yes" or "no".<|im_end|>\\n
    <|im_start|>user\\n<Instruct>: {instruction}<Query>:{query images}{query text}
    \\n<Document>:{document images}{document text}<|im_end|>\\n<|im_start|>assistant\\n

An empty side (no text, no image) is the text "NULL", as in the official code.

The template's control tokens are written by id; user text is tokenized with no added tokens
(``TextEncoder``), so ``<|im_end|>`` or ``<|image_pad|>`` typed in a text stays text. Text segments
are tokenized whole between control tokens, as the chat template's string would be.

Truncation (``max_tokens``) keeps every template and vision token and shortens only the user's
text, from the end: the document text first, then the query text. Inside the limit, rows equal
the official ones token for token (tests/engine/test_vl_parity.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputLimitError
from .tokenize import TextEncoder
from .vision import PreparedImage

DEFAULT_EMBED_INSTRUCTION = "Represent the user's input."
DEFAULT_VL_RERANK_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
RERANK_SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
                 'Note that the answer can only be "yes" or "no".')
CONTROL_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>",
                  "<|endoftext|>")


class VLRow(list):
    """Token ids of one model input, with its images (``PreparedImage``) in the order they appear."""

    def __init__(self, ids: Sequence[int] = (), images: Sequence[PreparedImage] = ()):
        super().__init__(ids)
        self.images = tuple(images)


def embed_instruction(instruction: str | None) -> str:
    """The system text: the default, or the instruction with a full stop added if it ends without punctuation."""
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    return instruction or DEFAULT_EMBED_INSTRUCTION


@dataclass
class _Piece:
    """Part of a prompt: template text, user text (``cut`` = truncation order, lower first), or ids."""

    text: str | None = None
    ids: list[int] | None = None
    cut: int | None = None  # None: never shortened


class VLPromptBuilder:
    """Token rows for the Qwen3-VL embedding and reranker prompts (see the module docstring)."""

    def __init__(self, tokenizer, allow_special_tokens: bool = False):
        # Template text between control tokens holds no control token, so one encoder serves both.
        self.user_text = TextEncoder(tokenizer, allow_special_tokens)
        if self.user_text._backend is None:
            raise ValueError("Qwen3-VL needs a fast tokenizer (tokenizer.json)")
        self.id = {}
        for t in CONTROL_TOKENS:
            i = tokenizer.convert_tokens_to_ids(t)
            if not isinstance(i, int) or i < 0 or i == tokenizer.unk_token_id:
                raise ValueError(f"the tokenizer has no {t} token; a Qwen3-VL tokenizer is needed")
            self.id[t] = i

    def _ctl(self, *names: str) -> _Piece:
        return _Piece(ids=[self.id[n] for n in names])

    def _vision(self, images: Sequence[PreparedImage]) -> list[_Piece]:
        return [_Piece(ids=[self.id["<|vision_start|>"]] + [self.id["<|image_pad|>"]] * im.tokens
                       + [self.id["<|vision_end|>"]]) for im in images]

    def embedding_row(self, text: str | None, images: Sequence[PreparedImage], instruction: str | None,
                      max_tokens: int, truncate: bool = True, index: int = 0) -> VLRow:
        pieces = [self._ctl("<|im_start|>"), _Piece(f"system\n{embed_instruction(instruction)}"),
                  self._ctl("<|im_end|>"), _Piece("\n"), self._ctl("<|im_start|>"), _Piece("user\n"),
                  *self._vision(images)]
        if text is None and not images:
            text = "NULL"
        if text:
            pieces.append(_Piece(text, cut=0))
        pieces += [self._ctl("<|im_end|>"), _Piece("\n"), self._ctl("<|im_start|>"), _Piece("assistant\n")]
        return VLRow(self._render(pieces, max_tokens, truncate, index), images)

    def rerank_row(self, query: tuple[str | None, Sequence[PreparedImage]],
                   document: tuple[str | None, Sequence[PreparedImage]], instruction: str | None,
                   max_tokens: int, truncate: bool = True, index: int = 0) -> VLRow:
        instruction = instruction or DEFAULT_VL_RERANK_INSTRUCTION
        pieces = [self._ctl("<|im_start|>"), _Piece(f"system\n{RERANK_SYSTEM}"), self._ctl("<|im_end|>"),
                  _Piece("\n"), self._ctl("<|im_start|>"), _Piece(f"user\n<Instruct>: {instruction}")]
        for prefix, (text, images), cut in (("<Query>:", query, 1), ("\n<Document>:", document, 0)):
            pieces.append(_Piece(prefix))
            if text is None and not images:
                text = "NULL"
            pieces += self._vision(images)
            if text:
                pieces.append(_Piece(text, cut=cut))
        pieces += [self._ctl("<|im_end|>"), _Piece("\n"), self._ctl("<|im_start|>"), _Piece("assistant\n")]
        return VLRow(self._render(pieces, max_tokens, truncate, index), (*query[1], *document[1]))

    def _render(self, pieces: list[_Piece], max_tokens: int, truncate: bool, index: int) -> list[int]:
        """Ids of the pieces. Neighbouring text pieces (template and user text) are tokenized as one
        string, as the chat template's string is, so a boundary such as ``user\n`` + "\nHello"
        gives the same ids as the official rendering; each token belongs to the piece its first
        character comes from, which is what truncation shortens."""
        groups: list[list[_Piece]] = []  # runs of text pieces, or one control piece
        for p in pieces:
            if p.ids is None and groups and groups[-1][0].ids is None:
                groups[-1].append(p)
            else:
                groups.append([p])
        labelled: list[tuple[int, int | None]] = []  # (id, cut level or None for the template)
        texts = ["".join(p.text for p in g) for g in groups if g[0].ids is None]
        encoded = iter(self.user_text.encode_with_offsets(texts))
        for g in groups:
            if g[0].ids is not None:
                labelled += [(i, None) for i in g[0].ids]
                continue
            ids, offsets = next(encoded)
            bounds, at = [], 0
            for p in g:
                bounds.append((at, at + len(p.text), p.cut))
                at += len(p.text)
            for i, (start, _) in zip(ids, offsets):
                labelled.append((i, next((c for s, e, c in bounds if s <= start < e), None)))
        total = len(labelled)
        if total > max_tokens:
            if not truncate:
                raise InputLimitError(f"takes {total} tokens with its template and images; the limit is "
                                      f"{max_tokens}", index=index, code="input_too_long")
            over = total - max_tokens
            for level in sorted({c for _, c in labelled if c is not None}):
                keep = [True] * len(labelled)
                for k in range(len(labelled) - 1, -1, -1):
                    if over == 0:
                        break
                    if labelled[k][1] == level:
                        keep[k] = False
                        over -= 1
                labelled = [t for t, ok in zip(labelled, keep) if ok]
            if over > 0:
                raise InputLimitError(f"needs {len(labelled)} tokens for its template and images alone; the limit "
                                      f"is {max_tokens} (send fewer or smaller images)", index=index,
                                      code="input_too_long")
        return [i for i, _ in labelled]
