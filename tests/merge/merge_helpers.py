"""Helpers shared by the merge tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

SMALL_CONFIG = {"model_type": "qwen3", "architectures": ["Qwen3Model"], "hidden_size": 8,
                "intermediate_size": 16, "num_hidden_layers": 3, "vocab_size": 32}


def small_tensors(seed: int = 0, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """A Qwen3-shaped state dict with 3 layers, small enough to check every tensor exactly."""
    g = torch.Generator().manual_seed(seed)
    out = {"embed_tokens.weight": torch.randn(32, 8, generator=g)}
    for i in range(3):
        out[f"layers.{i}.self_attn.q_proj.weight"] = torch.randn(8, 8, generator=g)
        out[f"layers.{i}.mlp.up_proj.weight"] = torch.randn(16, 8, generator=g)
        out[f"layers.{i}.input_layernorm.weight"] = 1.0 + 0.1 * torch.randn(8, generator=g)
    out["norm.weight"] = torch.ones(8)
    return {k: v.to(dtype) for k, v in out.items()}


def perturbed_copy(src: Path, dst: Path, seed: int, scale: float = 0.02) -> Path:
    """A copy of checkpoint ``src`` with Gaussian noise (relative ``scale``) added to every float tensor."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    g = torch.Generator().manual_seed(seed)
    for f in list(dst.rglob("model*.safetensors")):
        sd = load_file(f)
        for k, v in sd.items():
            if v.is_floating_point():
                noise = torch.randn(v.shape, generator=g) * scale * v.float().std().clamp_min(1e-3)
                sd[k] = (v.float() + noise).to(v.dtype)
        save_file(sd, f, metadata={"format": "pt"})
    return dst


def leftovers(parent: Path) -> list[str]:
    """Temporary or partial outputs left in ``parent`` (there must be none after a failure)."""
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def tiny_bert(minilm_dir: Path, out: Path, seed: int) -> Path:
    """A random 2-layer BERT (hidden 32) with MiniLM's tokenizer and sentence-transformers files."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)).save_pretrained(out)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json", "modules.json",
              "sentence_bert_config.json", "1_Pooling/config.json"):
        (out / f).parent.mkdir(exist_ok=True)
        shutil.copy(minilm_dir / f, out / f)
    return out
