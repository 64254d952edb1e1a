"""Turn texts into token ids exactly as the Qwen3 Embedding system expects: the one place for it.

- Embedding (decoder): ``Instruct: {task}\\nQuery:{query}`` for queries, the bare text for
  documents, then ``<|endoftext|>`` exactly once, after truncation too. We never rely on the
  tokenizer's post-processor for it, because some tokenizer revisions append it and some don't.
- Embedding (encoder, e.g. BERT): the tokenizer's own special tokens ([CLS] ... [SEP]); an
  instruction is a plain text prefix.
- Reranking: a fixed chat prefix + ``<Instruct>: ..\\n<Query>: ..\\n<Document>: ..`` + a fixed
  suffix. Truncation only ever shortens the middle part.

User text stays text. By default the text of queries, documents and instructions is tokenized
with none of the tokenizer's added tokens: ``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``,
``<think>`` … written in a document come out as the ordinary tokens of those characters, so a
document cannot close the reranker's chat turn and forge its answer, and an embedding input
holds exactly one ``<|endoftext|>`` id. The template's own control tokens are the only ones in
a model input. ``allow_special_tokens=True`` keeps the reference code's behaviour (added tokens
in text are matched), for inputs that carry them on purpose. On text without such strings both
give the same ids (tests/core: parity against the reference code).

Tokenizing holds no lock: each tokenizer here runs on its own copy of the fast tokenizer's
backend, configured once and never changed afterwards (transformers flips backend flags such as
``encode_special_tokens`` on the shared object per call, which races between threads).
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import EOS_TOKEN, EOS_TOKEN_ID, format_query
from ..errors import InputLimitError

RERANK_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def format_rerank_pair(instruction: str, query: str, document: str) -> str:
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


def check_texts(texts: Sequence[str], what: str = "texts") -> None:
    """Raise ``TypeError`` naming the first element that is not a string."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__}; every element must be a str")


@dataclass(frozen=True)
class InputLimits:
    """What ``prepare`` accepts; the library's defaults truncate to the model's ``max_length``.

    ``max_tokens``: per model input. Embedding: the whole row, ``<|endoftext|>`` included.
    Reranking: the instruction, query and document text; the fixed chat template comes on top.
    Either way the model's ``max_length`` caps the whole row. ``truncate=False`` refuses an
    over-long input instead of cutting it. ``max_chars`` bounds one input *with* its instruction
    (and, for reranking, its query); ``max_total_chars`` bounds the whole call, where a rerank
    query and an instruction count once per row they are repeated in. Both are checked before
    any tokenizing, so a request's token work is bounded before it is queued.
    """

    max_tokens: int | None = None
    truncate: bool = True
    max_chars: int | None = None
    max_total_chars: int | None = None


DEFAULT_LIMITS = InputLimits()

# No real text averages more than 16 characters per token, so the first N tokens of a text lie in
# its first 16 x N characters. Two uses share this one bound: the server refuses longer inputs
# before tokenizing (413), and truncation cuts a text to it before tokenizing, so a 50 MB document
# costs the tokenizer what a 131,072-character one does instead of gigabytes of token offsets.
# The token count is at least GUARD_TOKENS: the bound must not follow a small max_length (MiniLM's
# 256 tokens would otherwise refuse a 4,097-character document that truncation handles fine).
CHARS_PER_TOKEN_BOUND = 16
GUARD_TOKENS = 8192


def char_guard(max_length: int) -> int:
    """Characters that hold at least the first ``max_length`` tokens of any ordinary text.

    Only text averaging more than 16 characters per token (a long run of one symbol) can lose
    tokens to the cut, and then only past this many characters."""
    return CHARS_PER_TOKEN_BOUND * max(max_length, GUARD_TOKENS)


def check_chars(sizes: Sequence[int], limits: InputLimits, strings: Sequence[str] = (),
                shared: dict[str, str | None] | None = None) -> None:
    """Refuse inputs over the character limits (413), and any string that is not valid Unicode (400).

    ``sizes[i]``: characters of row ``i`` as it will be tokenized (instruction and query included).
    ``strings[i]``: the text of row ``i`` that is its own (checked for lone surrogates).
    ``shared``: the texts that go with every row, by name (``instruction``, ``query``). One that
    alone passes ``max_chars``, or holds a lone surrogate, is named itself (``InputLimitError.part``),
    not the first input it went with.
    """
    for name, text in (shared or {}).items():
        if text is not None and limits.max_chars is not None and len(text) > limits.max_chars:
            raise InputLimitError(f"has {len(text)} characters; the limit is {limits.max_chars} characters per "
                                  "input, and it counts into each one", index=None, code="input_too_large",
                                  status=413, part=name)
    if limits.max_chars is not None:
        for i, n in enumerate(sizes):
            if n > limits.max_chars:
                raise InputLimitError(f"has {n} characters with its instruction/query; the limit is "
                                      f"{limits.max_chars} characters per input", index=i, code="input_too_large",
                                      status=413)
    if limits.max_total_chars is not None and (total := sum(sizes)) > limits.max_total_chars:
        raise InputLimitError(f"the inputs hold {total} characters in all (an instruction or query counts once "
                              f"per input it goes with); the limit is {limits.max_total_chars} per call",
                              index=None, code="request_too_large", status=413)
    for name, text in (shared or {}).items():
        if text is not None and not _valid_unicode(text):
            raise InputLimitError(_SURROGATE, index=None, code="invalid_text", part=name)
    for i, s in enumerate(strings):
        if not _valid_unicode(s):
            raise InputLimitError(_SURROGATE, index=i, code="invalid_text")


_SURROGATE = "holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode text"


def _valid_unicode(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _without_added_tokens(spec: str) -> str:
    """A backend's JSON with an empty top-level ``added_tokens`` list.

    Only that short list is parsed: a full ``json.loads``/``dumps`` round trip of a 151K-token
    vocabulary took most of ``Reranker.load``'s time. The first ``"added_tokens":`` is the top-level
    key (it comes before the vocabulary, and inside a token string its quotes would be escaped).
    """
    key = '"added_tokens":'
    at = spec.find(key)
    if at < 0:
        return spec
    start = at + len(key)
    while spec[start].isspace():
        start += 1
    tokens, end = json.JSONDecoder().raw_decode(spec, start)
    if not isinstance(tokens, list):
        raise ValueError(f"unexpected tokenizer JSON: added_tokens is a {type(tokens).__name__}")
    return spec[:start] + "[]" + spec[end:]


class TextEncoder:
    """Texts -> token ids on a private copy of a fast tokenizer's backend; safe from many threads.

    ``allow_special_tokens=False`` drops the added tokens from the copy, so text can only ever
    produce ordinary vocabulary ids (see the module docstring).
    """

    _copies: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
    _copies_lock = threading.Lock()

    def __init__(self, tokenizer, allow_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.allow_special_tokens = allow_special_tokens
        self._backend = self._backend_copy(tokenizer, allow_special_tokens)
        self._lock = threading.Lock() if self._backend is None else None  # slow tokenizers only

    @classmethod
    def _backend_copy(cls, tokenizer, allow_special: bool):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        with cls._copies_lock:
            try:
                cached = cls._copies.setdefault(tokenizer, {})
            except TypeError:  # not weak-referenceable: no cache
                cached = {}
            if allow_special not in cached:
                from tokenizers import Tokenizer

                spec = backend.to_str()
                if not allow_special:
                    spec = _without_added_tokens(spec)  # the post-processor keeps its own ids ([CLS]/[SEP])
                copy = Tokenizer.from_str(spec)
                copy.no_truncation()  # we truncate ourselves,
                copy.no_padding()  # and never pad here
                cached[allow_special] = copy
            return cached[allow_special]

    def __call__(self, texts: Sequence[str], add_special_tokens: bool = False) -> list[list[int]]:
        if not texts:
            return []
        if self._backend is not None:
            return [e.ids for e in self._backend.encode_batch(list(texts), add_special_tokens=add_special_tokens)]
        with self._lock:  # a slow (Python) tokenizer: transformers' own call, one thread at a time
            return self.tokenizer(list(texts), add_special_tokens=add_special_tokens,
                                  split_special_tokens=not self.allow_special_tokens)["input_ids"]

    def encode_with_offsets(self, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
        """(ids, character offsets) per text, no special tokens added; fast tokenizers only."""
        if self._backend is None:
            raise ValueError("character offsets need a fast tokenizer (tokenizer.json)")
        if not texts:
            return []
        return [(e.ids, e.offsets) for e in self._backend.encode_batch(list(texts), add_special_tokens=False)]


class EmbeddingTokenizer:
    """Token ids for embedding, with the decoder EOS guarantee or the encoder's special tokens."""

    def __init__(self, tokenizer, is_decoder: bool, max_length: int, allow_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.is_decoder = is_decoder
        self.max_length = max_length
        self.encode = TextEncoder(tokenizer, allow_special_tokens)
        if is_decoder:
            eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
            self.eos_id = eos if isinstance(eos, int) and eos >= 0 else EOS_TOKEN_ID
        else:  # how many special tokens the encoder's post-processor puts before and after the text
            plain = self.encode(["a"])[0]
            full = self.encode(["a"], add_special_tokens=True)[0]
            self.front = next(i for i in range(len(full)) if full[i: i + len(plain)] == plain)
            self.back = len(full) - self.front - len(plain)

    def format(self, text: str, instruction: str | None) -> str:
        if instruction is None:
            return text
        return format_query(instruction, text) if self.is_decoder else instruction + text  # encoders: a plain prefix

    def __call__(self, texts: Sequence[str], instruction: str | None = None, max_tokens: int | None = None,
                 truncate: bool = True) -> list[list[int]]:
        """One row per text, at most ``max_tokens`` (default ``max_length``) ids; ``InputLimitError``
        for a longer one when ``truncate`` is False."""
        limit = self.max_length if max_tokens is None else min(max_tokens, self.max_length)
        formatted = [self.format(t, instruction) for t in texts]
        if truncate:  # only the first `limit` tokens are kept, so only their characters are tokenized
            formatted = [t[: char_guard(self.max_length)] for t in formatted]
        if not self.is_decoder:
            return [self._cut(row, i, limit, truncate) for i, row in
                    enumerate(self.encode(formatted, add_special_tokens=True))]
        out = []
        for i, row in enumerate(self.encode(formatted)):
            while row and row[-1] == self.eos_id:  # a text that already ends in <|endoftext|> (special tokens allowed)
                row = row[:-1]
            if len(row) + 1 > limit and not truncate:
                raise _too_long(i, limit)
            out.append(row[: limit - 1] + [self.eos_id])
        return out

    def fit_ids(self, rows: Sequence[Sequence[int]], max_tokens: int | None = None,
                truncate: bool = True) -> list[list[int]]:
        """Client-given token ids: fed as they are, plus the EOS guarantee for decoders."""
        limit = self.max_length if max_tokens is None else min(max_tokens, self.max_length)
        out = []
        for i, row in enumerate(rows):
            row = list(row)
            if not self.is_decoder:
                if not row:
                    raise InputLimitError("is an empty token list", index=i, code="empty_input")
                if len(row) > limit and not truncate:
                    raise _too_long(i, limit)
                out.append(row if len(row) <= limit else row[: limit - 1] + row[-1:])  # keep the closing [SEP]
                continue
            while row and row[-1] == self.eos_id:  # already ends in <|endoftext|>: keep one
                row.pop()
            if len(row) + 1 > limit and not truncate:
                raise _too_long(i, limit)
            out.append(row[: limit - 1] + [self.eos_id])
        return out

    def _cut(self, row: list[int], i: int, limit: int, truncate: bool) -> list[int]:
        """Shorten the text between the encoder's special tokens, as transformers' truncation does."""
        if len(row) <= limit:
            return row
        if not truncate:
            raise _too_long(i, limit)
        end = len(row) - self.back
        return row[: self.front] + row[self.front: end][: limit - self.front - self.back] + row[end:]


class RerankTokenizer:
    """Token ids for (query, document) pairs in the Qwen3-Reranker chat template."""

    def __init__(self, tokenizer, max_length: int, allow_special_tokens: bool = False):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.encode = TextEncoder(tokenizer, allow_special_tokens)
        template = TextEncoder(tokenizer, allow_special_tokens=True)  # the template's own control tokens
        self.prefix_ids = template([RERANK_PREFIX])[0]
        self.suffix_ids = template([RERANK_SUFFIX])[0]
        self.fixed = len(self.prefix_ids) + len(self.suffix_ids)
        self.budget = max_length - self.fixed
        if self.budget < 16:
            raise ValueError(
                f"max_length {max_length} leaves {self.budget} tokens for the query and document after the "
                f"fixed template ({self.fixed} tokens); use at least {self.fixed + 16}"
            )

    def document_room(self, query: str, instruction: str) -> int:
        """Tokens left for a document after the instruction and query (<= 0: none survives truncation)."""
        head = self.encode([format_rerank_pair(instruction, query, "")])[0]
        return self.budget - len(head)

    def __call__(self, pairs: Sequence[tuple[str, str]], instruction: str, max_tokens: int | None = None,
                 truncate: bool = True) -> list[list[int]]:
        """``max_tokens`` bounds the pair text (template excluded); ``max_length`` caps the whole row."""
        if not pairs:
            return []
        budget = self.budget if max_tokens is None else min(max_tokens, self.budget)
        if truncate:  # the document's tail is cut anyway: tokenize no more of it than can be kept
            pairs = [(q, d[: char_guard(self.max_length)]) for q, d in pairs]
        ids = self.encode([format_rerank_pair(instruction, q, d) for q, d in pairs])
        out = []
        for i, row in enumerate(ids):
            if len(row) > budget and not truncate:
                raise InputLimitError(f"the instruction, query and document take {len(row)} tokens; the limit is "
                                      f"{budget} tokens (+ {self.fixed} for the fixed template)", index=i,
                                      code="input_too_long")
            # Keep the head (instruction, query) and cut the document's tail; the fixed prefix and
            # suffix are added after truncation so they are never shortened.
            out.append(self.prefix_ids + row[:budget] + self.suffix_ids)
        return out


def _too_long(i: int, limit: int) -> InputLimitError:
    return InputLimitError(f"is longer than the limit of {limit} tokens", index=i, code="input_too_long")
