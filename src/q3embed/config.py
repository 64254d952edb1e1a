"""Model presets and the fixed facts of the Qwen3 Embedding system. No torch import here."""

from __future__ import annotations

from dataclasses import dataclass

EOS_TOKEN = "<|endoftext|>"
EOS_TOKEN_ID = 151643
YES_TOKEN_ID = 9693
NO_TOKEN_ID = 2152
MRL_MIN_DIM = 32
DEFAULT_MAX_LENGTH = 8192
MAX_CONTEXT = 32768

DEFAULT_QUERY_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
DEFAULT_RERANK_INSTRUCTION = DEFAULT_QUERY_INSTRUCTION

# The embedding query template of the model cards, written here only: the tokenizer formats
# queries with it, a sentence-transformers export saves its prompt half, and a saved prompt is
# read back into its instruction with it. Documents get no template.
QUERY_PROMPT = "Instruct: {instruction}\nQuery:"


def query_prompt(instruction: str) -> str:
    """The text before a query: ``Instruct: {instruction}\\nQuery:``."""
    return QUERY_PROMPT.format(instruction=instruction)


def format_query(instruction: str | None, query: str) -> str:
    """A query as the model reads it; without an instruction, the bare text."""
    return query if instruction is None else query_prompt(instruction) + query


def instruction_of_prompt(prompt: str) -> str | None:
    """The instruction inside a saved query prompt (``query_prompt``'s inverse); None for another prompt."""
    head, tail = QUERY_PROMPT.split("{instruction}")
    if prompt.startswith(head) and prompt.endswith(tail) and len(prompt) >= len(head) + len(tail):
        return prompt[len(head): len(prompt) - len(tail)]
    return None


@dataclass(frozen=True)
class Qwen3Preset:
    """Shape of one official checkpoint (Qwen3 Embedding paper, model cards)."""

    name: str
    layers: int
    hidden: int
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    tied_embeddings: bool
    vocab_size: int = 151_669
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32_768

    def __post_init__(self) -> None:
        if self.q_heads % self.kv_heads:
            raise ValueError(f"{self.name}: q_heads {self.q_heads} must be a multiple of kv_heads {self.kv_heads}")

    def hf_config_dict(self) -> dict:
        """Keyword arguments for ``transformers.Qwen3Config`` with this shape."""
        return dict(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden,
            intermediate_size=self.ffn,
            num_hidden_layers=self.layers,
            num_attention_heads=self.q_heads,
            num_key_value_heads=self.kv_heads,
            head_dim=self.head_dim,
            rms_norm_eps=self.rms_norm_eps,
            rope_theta=self.rope_theta,
            max_position_embeddings=self.max_position_embeddings,
            tie_word_embeddings=self.tied_embeddings,
        )


PRESETS: dict[str, Qwen3Preset] = {
    p.name: p
    for p in (
        Qwen3Preset("0.6B", layers=28, hidden=1024, q_heads=16, kv_heads=8, head_dim=128, ffn=3072, tied_embeddings=True),
        Qwen3Preset("4B", layers=36, hidden=2560, q_heads=32, kv_heads=8, head_dim=128, ffn=9728, tied_embeddings=True),
        Qwen3Preset("8B", layers=36, hidden=4096, q_heads=32, kv_heads=8, head_dim=128, ffn=12288, tied_embeddings=False),
    )
}
