"""Tiny random Qwen3 checkpoints with the genuine vocabulary, for tests and benchmarks.

They are laid out exactly like the official ones: an embedding model (``Qwen3Model`` weights,
sentence-transformers files with last-token pooling and the query prompt) and a reranker
(``Qwen3ForCausalLM``). ``shape="0.6B"`` gives the real Qwen3-Embedding-0.6B shape with
random weights, which is what throughput benchmarks need.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..config import DEFAULT_QUERY_INSTRUCTION, PRESETS
from .st_files import write_sentence_transformers_files
from .vocab import save_qwen3_tokenizer

TINY_SHAPE = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=16,
)

#: what ``save_pretrained`` writes for a tokenizer (older transformers: the last three too)
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "added_tokens.json", "vocab.json", "merges.txt"}


def qwen3_config(shape: str = "tiny", **overrides):
    from transformers import Qwen3Config

    if shape == "tiny":
        kwargs = dict(vocab_size=151_669, rms_norm_eps=1e-6, rope_theta=1_000_000.0,
                      max_position_embeddings=32_768, tie_word_embeddings=True, **TINY_SHAPE)
    elif shape in PRESETS:
        kwargs = PRESETS[shape].hf_config_dict()
    else:
        raise ValueError(f"shape {shape!r} is not known; accepted: tiny, {', '.join(PRESETS)}")
    kwargs.update(overrides)
    return Qwen3Config(**kwargs)


def save_random_weights(model, out: Path, spread: bool, dtype=None) -> None:
    """Save a randomly initialised model as safetensors, in ``dtype`` when given. ``spread``: a
    larger-than-default init, so that tiny random models give well-spread scores."""
    import torch

    if spread:
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, 0.08)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(out, safe_serialization=True)


def save_tiny_qwen3(out_dir: str | Path, kind: str = "embedding", shape: str = "tiny", seed: int = 0,
                    tokenizer_dir: str | Path | None = None, dtype=None, **overrides) -> Path:
    """Write a random Qwen3 checkpoint. kind: "embedding" (Qwen3Model + ST files) or "reranker"."""
    import torch
    from transformers import AutoTokenizer, Qwen3ForCausalLM, Qwen3Model

    if kind not in ("embedding", "reranker"):
        raise ValueError(f"kind must be 'embedding' or 'reranker', got {kind!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = qwen3_config(shape, **overrides)
    model = Qwen3Model(cfg) if kind == "embedding" else Qwen3ForCausalLM(cfg)
    save_random_weights(model, out, spread=shape == "tiny", dtype=dtype)
    if tokenizer_dir is not None and (Path(tokenizer_dir) / "tokenizer.json").exists():
        # A saved tokenizer's files are copied as they are: loading and re-saving a 151K vocabulary costs seconds.
        for f in Path(tokenizer_dir).iterdir():
            if f.name in TOKENIZER_FILES and f.resolve() != (out / f.name).resolve():
                shutil.copyfile(f, out / f.name)
    elif tokenizer_dir is not None:
        AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    else:
        save_qwen3_tokenizer(out)
    if kind == "embedding":
        write_sentence_transformers_files(out, pooling="lasttoken", prompt_instruction=DEFAULT_QUERY_INSTRUCTION)
    return out
