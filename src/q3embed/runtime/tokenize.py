"""Turn texts into token ids exactly as the Qwen3 Embedding system expects.

- Embedding (decoder): ``Instruct: {task}\\nQuery:{query}`` for queries, the bare text for
  documents, then ``<|endoftext|>`` exactly once, after truncation too. We never rely on the
  tokenizer's post-processor for it, because some tokenizer revisions append it and some don't.
- Embedding (encoder, e.g. BERT): the tokenizer's own special tokens ([CLS] ... [SEP]).
- Reranking: a fixed chat prefix + ``<Instruct>: ..\\n<Query>: ..\\n<Document>: ..`` + a fixed
  suffix. Truncation only ever shortens the middle part.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..config import EOS_TOKEN, EOS_TOKEN_ID

RERANK_PREFIX = (
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
)
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def format_query(instruction: str | None, query: str) -> str:
    return query if instruction is None else f"Instruct: {instruction}\nQuery:{query}"


def format_rerank_pair(instruction: str, query: str, document: str) -> str:
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


def check_texts(texts: Sequence[str], what: str = "texts") -> None:
    """Raise ``TypeError`` naming the first element that is not a string."""
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what}[{i}] is {type(t).__name__}; every element must be a str")


class EmbeddingTokenizer:
    """Token ids for embedding, with the decoder EOS guarantee or the encoder's special tokens."""

    def __init__(self, tokenizer, is_decoder: bool, max_length: int):
        self.tokenizer = tokenizer
        self.is_decoder = is_decoder
        self.max_length = max_length
        if is_decoder:
            eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
            self.eos_id = eos if isinstance(eos, int) and eos >= 0 else EOS_TOKEN_ID

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        if not texts:
            return []
        if not self.is_decoder:
            return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        out = []
        for row in ids:
            while row and row[-1] == self.eos_id:  # a text that already ends in <|endoftext|>
                row = row[:-1]
            out.append(row[: self.max_length - 1] + [self.eos_id])
        return out


class RerankTokenizer:
    """Token ids for (query, document) pairs in the Qwen3-Reranker chat template."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.prefix_ids = tokenizer.encode(RERANK_PREFIX, add_special_tokens=False)
        self.suffix_ids = tokenizer.encode(RERANK_SUFFIX, add_special_tokens=False)
        self.budget = max_length - len(self.prefix_ids) - len(self.suffix_ids)
        if self.budget < 16:
            raise ValueError(
                f"max_length {max_length} leaves {self.budget} tokens for the query and document after the "
                f"fixed template ({len(self.prefix_ids) + len(self.suffix_ids)} tokens); use at least "
                f"{len(self.prefix_ids) + len(self.suffix_ids) + 16}"
            )

    def __call__(self, pairs: Sequence[tuple[str, str]], instruction: str) -> list[list[int]]:
        if not pairs:
            return []
        texts = [format_rerank_pair(instruction, q, d) for q, d in pairs]
        ids = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        # Keep the head (instruction, query) and cut the document's tail; the fixed prefix and
        # suffix are added after truncation so they are never shortened.
        return [self.prefix_ids + row[: self.budget] + self.suffix_ids for row in ids]
