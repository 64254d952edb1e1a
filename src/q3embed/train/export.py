"""Export a trained model (LoRA merged) in a layout that three loaders read unchanged.

- ``q3embed.Embedder.load`` / ``q3embed.Reranker.load``;
- sentence-transformers: ``modules.json`` (Transformer -> Pooling -> Normalize), the pooling of
  the backbone (last token for Qwen3, the encoder's own, e.g. mean, for MiniLM), the query
  prompt under ``prompts``;
- transformers ``AutoModel`` (plain HF weights and config at the root).

Qwen3 embedding exports also get a tokenizer post-processor that appends ``<|endoftext|>``,
as the official checkpoints' tokenizers do, so sentence-transformers and raw transformers
users pool the same token that q3embed does (q3embed adds it itself and is unaffected).

Weights are written in the base model's release dtype (bf16 for the official Qwen3
checkpoints) unless asked otherwise: inference follows the stored dtype, so a fine-tune
saved in the fp32 it was trained in would serve about 2x slower than its base.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from ..config import EOS_TOKEN, EOS_TOKEN_ID
from ..model.layout import CheckpointLayout
from ..model.st_files import write_sentence_transformers_files
from .adapters import base_model, merged_state_dict

_FLOAT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def save_dtype_for(choice: str, stored: str | None) -> str:
    """The dtype name to export in: ``choice`` itself, or for "auto" the release dtype ``stored``
    (config.json ``dtype``/``torch_dtype``), or float32 when the base names none we know."""
    if choice != "auto":
        return choice
    name = str(stored or "").removeprefix("torch.")
    return name if name in _FLOAT_DTYPES else "float32"


def save_merged(model, out: Path, dtype: str = "float32") -> None:
    """HF ``save_pretrained`` of the base model with LoRA folded in, floating tensors cast to ``dtype``."""
    base = base_model(model)
    target = _FLOAT_DTYPES[dtype]
    # Fold LoRA in fp32 first, round once at the end.
    state = {k: (v.to(target) if v.is_floating_point() else v).contiguous() for k, v in merged_state_dict(model).items()}
    base.save_pretrained(out, state_dict=state, safe_serialization=True)
    _write_config_dtype(out, dtype)


def _write_config_dtype(out: Path, dtype: str) -> None:
    """save_pretrained records the live (fp32 training) dtype; loaders read this key to pick their precision."""
    path = Path(out) / "config.json"
    config = json.loads(path.read_text())
    config["dtype"] = dtype
    if "torch_dtype" in config:
        config["torch_dtype"] = dtype
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


class TokenizerFiles:
    """The exported tokenizer files, serialised once and written into every later checkpoint.

    Serialising a 151k-token vocabulary takes seconds; a run that checkpoints often pays it once.
    """

    def __init__(self, tokenizer, append_eos: bool = False):
        self.tokenizer, self.append_eos = tokenizer, append_eos
        self.files: dict[str, bytes] | None = None

    def write(self, out: Path) -> None:
        if self.files is None:
            with tempfile.TemporaryDirectory() as tmp:
                self.tokenizer.save_pretrained(tmp)
                if self.append_eos:
                    _append_eos_post_processor(Path(tmp), self.tokenizer)
                self.files = {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file()}
        for name, data in self.files.items():
            (out / name).write_bytes(data)


def export_embedding_model(model, tokenizer, source: CheckpointLayout, out: str | Path,
                           query_instruction: str | None = None, dtype: str = "auto") -> Path:
    """Write the trained backbone, tokenizer and sentence-transformers files to ``out``.

    ``tokenizer``: the HF tokenizer, or a ``TokenizerFiles`` built from it (faster when repeated).
    ``dtype``: "auto" (the release dtype of ``source``), "float32", "bfloat16" or "float16".
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_merged(model, out, save_dtype_for(dtype, source.stored_dtype))
    if not isinstance(tokenizer, TokenizerFiles):
        tokenizer = TokenizerFiles(tokenizer, append_eos=source.is_decoder)
    tokenizer.write(out)
    if source.is_decoder:
        max_len = source.max_seq_length or 8192
    else:
        max_len = source.max_seq_length or 512
    write_sentence_transformers_files(out, pooling=source.pooling, prompt_instruction=query_instruction,
                                      max_seq_length=int(max_len))
    if not source.is_decoder:  # encoders: keep their own prompts (format: plain prefixes)
        st_cfg = json.loads((out / "config_sentence_transformers.json").read_text())
        st_cfg["prompts"] = dict(source.prompts)
        (out / "config_sentence_transformers.json").write_text(json.dumps(st_cfg, indent=2))
    return out


def export_reranker_model(model, tokenizer, out: str | Path, source: CheckpointLayout | None = None,
                          dtype: str = "auto") -> Path:
    """Write the trained causal LM (LoRA merged) and tokenizer: a Qwen3-Reranker layout.

    ``dtype``: as in ``export_embedding_model``; "auto" reads the release dtype of ``source``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_merged(model, out, save_dtype_for(dtype, source.stored_dtype if source is not None else None))
    if not isinstance(tokenizer, TokenizerFiles):
        tokenizer = TokenizerFiles(tokenizer)
    tokenizer.write(out)
    return out


def _append_eos_post_processor(out: Path, tokenizer) -> None:
    if tokenizer("a")["input_ids"][-1:] == [EOS_TOKEN_ID]:
        return  # the tokenizer already appends it
    path = out / "tokenizer.json"
    if not path.exists():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    data["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOS_TOKEN, "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": EOS_TOKEN, "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}, {"SpecialToken": {"id": EOS_TOKEN, "type_id": 1}}],
        "special_tokens": {EOS_TOKEN: {"id": EOS_TOKEN, "ids": [EOS_TOKEN_ID], "tokens": [EOS_TOKEN]}},
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
