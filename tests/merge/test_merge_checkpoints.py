"""Whole-checkpoint merges: streamed results equal the in-memory math; bad input is refused."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from q3embed.errors import CheckpointError
from q3embed.merge import linear, merge_checkpoints, multislerp, slerp
from q3embed.merge.schedule import Schedule

from merge_helpers import SMALL_CONFIG, leftovers, small_tensors


def _load(d):
    index = d / "model.safetensors.index.json"
    if index.exists():
        out = {}
        for f in set(json.loads(index.read_text())["weight_map"].values()):
            out.update(load_file(d / f))
        return out
    return load_file(d / "model.safetensors")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_streamed_slerp_equals_in_memory_slerp(write_checkpoint, tmp_path, dtype):
    ta, tb = small_tensors(0, dtype), small_tensors(1, dtype)
    a, b = write_checkpoint("a", ta, shards=2), write_checkpoint("b", tb)
    # 20-element blocks: the embedding (32x8) and MLP (16x8) span several blocks
    merge_checkpoints([a, b], tmp_path / "c", method="slerp", t=0.3, block_elements=20, shard_bytes=700)
    out = _load(tmp_path / "c")
    assert out.keys() == ta.keys()
    for k in ta:
        assert out[k].dtype == dtype
        torch.testing.assert_close(out[k], slerp(ta[k], tb[k], 0.3), rtol=1e-2 if dtype != torch.float32 else 1e-6,
                                   atol=1e-2 if dtype != torch.float32 else 1e-6)


def test_gradient_and_filters_reach_the_right_tensors(write_checkpoint, tmp_path):
    ta, tb = small_tensors(0), small_tensors(1)
    a, b = write_checkpoint("a", ta), write_checkpoint("b", tb)
    rules = ["self_attn=0,1", "mlp=0.25", "0.5"]
    merge_checkpoints([a, b], tmp_path / "c", t=rules)
    out, sched = _load(tmp_path / "c"), Schedule.parse(rules, 3)
    assert torch.equal(out["layers.0.self_attn.q_proj.weight"], ta["layers.0.self_attn.q_proj.weight"])
    assert torch.equal(out["layers.2.self_attn.q_proj.weight"], tb["layers.2.self_attn.q_proj.weight"])
    for k in ta:
        torch.testing.assert_close(out[k], slerp(ta[k], tb[k], sched.t_for(k)))


@pytest.mark.parametrize("method,fn", [("multislerp", multislerp), ("linear", linear)])
def test_multi_checkpoint_methods(write_checkpoint, tmp_path, method, fn):
    ts = [small_tensors(i) for i in range(3)]
    dirs = [write_checkpoint(f"m{i}", t) for i, t in enumerate(ts)]
    merge_checkpoints(dirs, tmp_path / "out", method=method, weights=[1, 2, 3], block_elements=16)
    out = _load(tmp_path / "out")
    for k in ts[0]:
        torch.testing.assert_close(out[k], fn([t[k] for t in ts], [1, 2, 3]), rtol=1e-5, atol=1e-5)


def test_support_files_are_copied_and_the_recipe_recorded(write_checkpoint, tmp_path):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    (a / "1_Pooling").mkdir()
    (a / "1_Pooling" / "config.json").write_text("{}")
    (a / "README.md").write_text("the original card")
    (a / "optimizer.pt").write_bytes(b"x")
    merge_checkpoints([a, b], tmp_path / "c", t=0.5)
    names = sorted(str(p.relative_to(tmp_path / "c")) for p in (tmp_path / "c").rglob("*"))
    assert names == ["1_Pooling", "1_Pooling/config.json", "config.json", "model.safetensors",
                     "q3embed_merge.json", "tokenizer_config.json"]
    assert json.loads((tmp_path / "c" / "q3embed_merge.json").read_text())["method"] == "slerp"


def _refused(tmp_path, match, *args, **kwargs):
    with pytest.raises((CheckpointError, ValueError), match=match):
        merge_checkpoints(*args, **kwargs)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_mismatched_shape_is_refused_naming_the_tensor(write_checkpoint, tmp_path):
    tb = small_tensors(1)
    tb["layers.1.mlp.up_proj.weight"] = torch.randn(12, 8)
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", tb)
    _refused(tmp_path, r"layers.1.mlp.up_proj.weight.*\[16, 8\].*\[12, 8\]", [a, b], tmp_path / "out")


def test_mismatched_architecture_is_refused_naming_the_key(write_checkpoint, tmp_path):
    a = write_checkpoint("a", small_tensors(0))
    b = write_checkpoint("b", small_tensors(1), config={**SMALL_CONFIG, "model_type": "llama"})
    _refused(tmp_path, "model_type.*qwen3.*llama", [a, b], tmp_path / "out")


def test_absent_config_key_means_the_transformers_default(write_checkpoint, tmp_path):
    """A base config without tie_word_embeddings merges with its fine-tune that writes the default (true),
    but not with one that sets it false."""
    base = {k: v for k, v in SMALL_CONFIG.items() if k != "tie_word_embeddings"}
    a = write_checkpoint("a", small_tensors(0), config=base)
    b = write_checkpoint("b", small_tensors(1), config={**base, "tie_word_embeddings": True})
    merge_checkpoints([a, b], tmp_path / "ok", method="slerp", t=0.5)
    assert (tmp_path / "ok" / "config.json").exists()
    c = write_checkpoint("c", small_tensors(1), config={**base, "tie_word_embeddings": False})
    _refused(tmp_path, "tie_word_embeddings.*True.*False", [a, c], tmp_path / "out")


def test_position_ids_buffer_of_an_old_base_is_left_out(write_checkpoint, tmp_path):
    """An old base saved embeddings.position_ids; its fine-tune does not: the merge goes ahead without the
    buffer (the model rebuilds it) and says so. A missing weight is still refused (next test)."""
    ta = {**small_tensors(0), "embeddings.position_ids": torch.arange(8).unsqueeze(0)}
    a, b = write_checkpoint("a", ta), write_checkpoint("b", small_tensors(1))
    result = merge_checkpoints([a, b], tmp_path / "ok", method="slerp", t=0.5)
    merged = load_file(next((tmp_path / "ok").glob("*.safetensors")))
    assert "embeddings.position_ids" not in merged and set(merged) == set(small_tensors(0))
    assert any("position_ids" in note for note in result.not_merged)


def test_missing_tensor_is_refused_naming_it(write_checkpoint, tmp_path):
    tb = small_tensors(1)
    del tb["layers.2.self_attn.q_proj.weight"]
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", tb)
    _refused(tmp_path, "'layers.2.self_attn.q_proj.weight' is in .* but missing from", [a, b], tmp_path / "out")


@pytest.mark.parametrize("t,match", [(1.2, "t=1.2 is outside"), (["mlp=-0.5", "0.5"], "t=-0.5")])
def test_t_outside_unit_interval_is_refused(write_checkpoint, tmp_path, t, match):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    _refused(tmp_path, match, [a, b], tmp_path / "out", t=t)


def test_differing_integer_tensor_is_refused_and_nothing_is_left(write_checkpoint, tmp_path):
    ta, tb = small_tensors(0), small_tensors(1)
    ta["position_ids"] = torch.arange(8).reshape(1, 8)
    tb["position_ids"] = torch.arange(8).reshape(1, 8).flip(1)
    a, b = write_checkpoint("a", ta), write_checkpoint("b", tb)
    # found only mid-stream, after shards were opened: the temporary directory must vanish
    _refused(tmp_path, "'position_ids' is torch.int64 and differs", [a, b], tmp_path / "out")


def test_corrupt_shard_is_refused(write_checkpoint, tmp_path):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    raw = (b / "model.safetensors").read_bytes()
    (b / "model.safetensors").write_bytes(raw[: len(raw) // 2])
    _refused(tmp_path, "truncated", [a, b], tmp_path / "out")


def test_wrong_number_of_inputs_is_refused(write_checkpoint, tmp_path):
    dirs = [write_checkpoint(n, small_tensors(i)) for i, n in enumerate("abc")]
    _refused(tmp_path, "slerp merges exactly 2", dirs, tmp_path / "out", method="slerp")
    _refused(tmp_path, "at least 2", dirs[:1], tmp_path / "out", method="linear")
    _refused(tmp_path, "LoRA adapter", dirs[:1], tmp_path / "out", method="lora")


def test_existing_output_is_kept_without_overwrite(write_checkpoint, tmp_path):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    (tmp_path / "out").mkdir()
    with pytest.raises(CheckpointError, match="already exists"):
        merge_checkpoints([a, b], tmp_path / "out")
    merge_checkpoints([a, b], tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "model.safetensors").exists() and leftovers(tmp_path) == []
