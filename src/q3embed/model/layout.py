"""Read what a checkpoint directory holds: architecture, pooling, prompts, length limit.

Two layouts are understood:
- Hugging Face: ``config.json`` + tokenizer files + safetensors at the root.
- sentence-transformers: ``modules.json`` naming a Transformer module (often the root itself),
  a Pooling module (``1_Pooling/config.json``), optionally Normalize, plus
  ``config_sentence_transformers.json`` with ``prompts`` and ``sentence_bert_config.json``
  with ``max_seq_length``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError

DECODER_TYPES = {"qwen3", "qwen2", "qwen3_moe", "llama", "mistral", "gemma", "gemma2", "gemma3_text"}
#: vision-language decoders: Qwen3-VL-Embedding / Qwen3-VL-Reranker (engine/vl.py)
VL_TYPES = {"qwen3_vl"}
CAUSAL_LM_ARCHS = ("ForCausalLM",)
VL_LM_ARCHS = ("ForConditionalGeneration",)  # Qwen3VLForConditionalGeneration: vision tower + LM head


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"corrupt JSON in {path}: {e}") from None


@dataclass
class CheckpointLayout:
    root: Path
    model_dir: Path  # where config.json and the weights live
    model_type: str
    architectures: list[str]
    pooling: str  # "lasttoken" | "mean" | "cls"
    normalize: bool
    prompts: dict[str, str] = field(default_factory=dict)
    max_seq_length: int | None = None
    hidden_size: int = 0
    num_layers: int = 0
    sentence_transformers: bool = False
    stored_dtype: str | None = None  # config.json "dtype"/"torch_dtype": the precision the weights were released in
    vision_layers: int = 0  # Qwen3-VL: depth of the vision tower (0: text only)
    vision_hidden_size: int = 0

    @property
    def is_vl(self) -> bool:
        """A Qwen3-VL checkpoint (text, images, or both): ``Embedder``/``Reranker.load`` take the VL path."""
        return self.model_type in VL_TYPES

    @property
    def is_decoder(self) -> bool:
        return self.model_type in DECODER_TYPES

    @property
    def has_lm_head(self) -> bool:
        archs = CAUSAL_LM_ARCHS + (VL_LM_ARCHS if self.is_vl else ())
        return any(a.endswith(archs) for a in self.architectures)

    @property
    def is_reranker(self) -> bool:
        """A Qwen3-Reranker: a decoder saved with its LM head and no sentence-transformers files.

        Qwen3-Embedding's own config also names ``Qwen3ForCausalLM``, but it ships modules.json; so
        does Qwen3-VL-Embedding (``Qwen3VLForConditionalGeneration``), unlike Qwen3-VL-Reranker.
        """
        return (self.is_decoder or self.is_vl) and self.has_lm_head and not self.sentence_transformers

    def describe_kind(self) -> str:
        if self.is_vl:
            return ("qwen3-vl reranker (vision-language decoder with LM head)" if self.is_reranker else
                    "qwen3-vl embedding model (vision-language decoder, last-token pooling)")
        if not self.is_decoder:
            return f"encoder embedding model ({self.model_type}, {self.pooling} pooling)"
        if self.is_reranker:
            return "qwen3 reranker (decoder with LM head)"
        return "qwen3 embedding model (decoder, last-token pooling)"

    def require(self, kind: str) -> None:
        """Refuse a checkpoint of the wrong kind: ``kind`` is "embedding" or "reranker"."""
        if kind == "reranker" and not self.is_reranker:
            raise CheckpointError(f"{self.root} is a {self.describe_kind()}; expected a Qwen3-Reranker checkpoint "
                                  "(a decoder saved with its LM head, e.g. Qwen/Qwen3-Reranker-0.6B)")
        if kind == "embedding" and self.is_reranker:
            raise CheckpointError(f"{self.root} is a {self.describe_kind()}; expected an embedding model "
                                  "(e.g. Qwen/Qwen3-Embedding-0.6B, or a sentence-transformers encoder)")


def read_layout(root: Path) -> CheckpointLayout:
    root = Path(root)
    model_dir, pooling, normalize, st = root, None, None, False
    modules_file = root / "modules.json"
    if modules_file.exists():
        st = True
        modules = read_json(modules_file)
        normalize = False
        for m in modules:
            kind = m.get("type", "")
            sub = root / m.get("path", "")
            if kind.endswith("Transformer"):
                model_dir = sub
            elif kind.endswith("Pooling"):
                pooling = _pooling_mode(read_json(sub / "config.json"), sub / "config.json")
            elif kind.endswith("Normalize"):
                normalize = True
    config = read_json(model_dir / "config.json")
    model_type = config.get("model_type", "")
    if not model_type:
        raise CheckpointError(f"{model_dir / 'config.json'} has no 'model_type'; expected e.g. 'qwen3' or 'bert'")
    is_decoder = model_type in DECODER_TYPES or model_type in VL_TYPES
    text_config = config.get("text_config") or {} if model_type in VL_TYPES else {}
    vision_config = config.get("vision_config") or {} if model_type in VL_TYPES else {}
    if pooling is None:
        pooling = "lasttoken" if is_decoder else "mean"
    if normalize is None:
        normalize = True
    prompts: dict[str, str] = {}
    if (f := root / "config_sentence_transformers.json").exists():
        prompts = dict(read_json(f).get("prompts") or {})
    max_len = None
    for f in (model_dir / "sentence_bert_config.json", root / "sentence_bert_config.json"):
        if f.exists():
            max_len = read_json(f).get("max_seq_length")
            break
    return CheckpointLayout(
        root=root,
        model_dir=model_dir,
        model_type=model_type,
        architectures=list(config.get("architectures") or []),
        pooling=pooling,
        normalize=normalize,
        prompts=prompts,
        max_seq_length=max_len,
        hidden_size=int(text_config.get("hidden_size") or config.get("hidden_size", 0)),
        num_layers=int(text_config.get("num_hidden_layers") or config.get("num_hidden_layers", 0)),
        sentence_transformers=st,
        stored_dtype=config.get("dtype") or config.get("torch_dtype") or text_config.get("dtype"),
        vision_layers=int(vision_config.get("depth", 0)),
        vision_hidden_size=int(vision_config.get("hidden_size", 0)),
    )


def _pooling_mode(cfg: dict, path: Path) -> str:
    if "pooling_mode" in cfg:
        mode = cfg["pooling_mode"]
    else:
        on = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
        mode = on[0].removeprefix("pooling_mode_") if on else "mean"
    mode = {"cls_token": "cls", "mean_tokens": "mean", "lasttoken": "lasttoken", "last_token": "lasttoken"}.get(mode, mode)
    if mode not in ("lasttoken", "mean", "cls"):
        raise CheckpointError(f"{path}: pooling mode '{mode}' is not supported; accepted: lasttoken, mean, cls")
    return mode
