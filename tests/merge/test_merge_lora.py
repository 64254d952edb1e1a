"""LoRA: merging an adapter tensor by tensor matches peft's own merge_and_unload."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from q3embed.errors import CheckpointError
from q3embed.merge import merge_checkpoints

peft = pytest.importorskip("peft")


def _base(tmp_path, tie=True):
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, tie_word_embeddings=tie)
    model = Qwen3Model(cfg)
    model.save_pretrained(tmp_path / "base")
    return model


def _adapter(model, tmp_path, **lora_kwargs):
    from peft import LoraConfig, get_peft_model

    pm = get_peft_model(model, LoraConfig(lora_dropout=0.0, **lora_kwargs))
    with torch.no_grad():  # peft initialises B to zero (ΔW = 0); random B makes the test able to fail
        for name, p in pm.named_parameters():
            if "lora_" in name:
                p.normal_(0, 0.5)
    pm.save_pretrained(tmp_path / "adapter")
    cfg_file = tmp_path / "adapter" / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = str(tmp_path / "base")
    cfg_file.write_text(json.dumps(cfg))
    return pm.merge_and_unload().state_dict()


@pytest.mark.parametrize("lora_kwargs", [
    dict(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]),
    dict(r=4, lora_alpha=16, use_rslora=True, target_modules=["q_proj", "up_proj"],
         rank_pattern={"up_proj": 2}, alpha_pattern={"up_proj": 3}),
    dict(r=2, lora_alpha=4, target_modules=["embed_tokens", "k_proj"], modules_to_save=["norm"]),
], ids=["linear", "rslora-patterns", "embedding-modules_to_save"])
def test_matches_peft_merge_and_unload(tmp_path, lora_kwargs):
    expected = _adapter(_base(tmp_path), tmp_path, **lora_kwargs)
    merge_checkpoints([tmp_path / "adapter"], tmp_path / "out", method="lora", block_elements=64)
    got = load_file(tmp_path / "out" / "model.safetensors")
    assert got.keys() == expected.keys()
    for k, v in expected.items():
        torch.testing.assert_close(got[k], v, rtol=1e-5, atol=1e-5, msg=k)
    assert (tmp_path / "out" / "config.json").exists()


def test_adapter_input_is_merged_before_slerp(tmp_path):
    merged = _adapter(_base(tmp_path), tmp_path, r=4, lora_alpha=8, target_modules=["q_proj"])
    base = load_file(tmp_path / "base" / "model.safetensors")
    merge_checkpoints([tmp_path / "base", tmp_path / "adapter"], tmp_path / "out", method="slerp", t=1.0)
    got = load_file(tmp_path / "out" / "model.safetensors")
    k = "layers.0.self_attn.q_proj.weight"
    assert torch.equal(got[k], merged[k]) and not torch.equal(got[k], base[k])


def test_adapter_without_base_is_refused(tmp_path):
    _adapter(_base(tmp_path), tmp_path, r=2, lora_alpha=2, target_modules=["q_proj"])
    cfg_file = tmp_path / "adapter" / "adapter_config.json"
    cfg_file.write_text(json.dumps({**json.loads(cfg_file.read_text()), "base_model_name_or_path": None}))
    with pytest.raises(CheckpointError, match="--lora-base"):
        merge_checkpoints([tmp_path / "adapter"], tmp_path / "out", method="lora")
    merge_checkpoints([tmp_path / "adapter"], tmp_path / "out", method="lora", lora_base=tmp_path / "base")


def test_adapter_for_another_architecture_is_refused(tmp_path):
    _adapter(_base(tmp_path), tmp_path, r=2, lora_alpha=2, target_modules=["q_proj"])
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         vocab_size=50)).save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="q_proj"):
        merge_checkpoints([tmp_path / "adapter"], tmp_path / "out", method="lora", lora_base=tmp_path / "other")
    assert not (tmp_path / "out").exists()
