"""t schedules: single values, gradients over layers, name filters, validation."""

from __future__ import annotations

import pytest

from q3embed.merge.schedule import Schedule, layer_index, layer_position, names_in_scope, scoped_t


def test_layer_index_understands_common_naming():
    assert layer_index("model.layers.12.mlp.up_proj.weight") == 12
    assert layer_index("encoder.layer.3.attention.self.query.weight") == 3
    assert layer_index("transformer.h.7.attn.c_attn.weight") == 7
    assert layer_index("embed_tokens.weight") is None


def test_non_layer_tensors_sit_at_the_ends():
    assert layer_position("embeddings.word_embeddings.weight", 6) == 0.0
    assert layer_position("norm.weight", 6) == 1.0
    assert layer_position("layers.5.mlp.weight", 6) == 1.0


def test_gradient_is_interpolated_by_layer_index():
    s = Schedule.parse("0,0.5,1", num_layers=5)
    assert [s.t_for(f"layers.{i}.mlp.weight") for i in range(5)] == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert s.t_for("embed_tokens.weight") == 0.0
    assert s.t_for("lm_head.weight") == 1.0


def test_filters_first_match_wins_then_default():
    s = Schedule.parse(["self_attn=0,1", "mlp=0.3", "0.5"], num_layers=3)
    assert s.t_for("layers.0.self_attn.q_proj.weight") == 0.0
    assert s.t_for("layers.2.self_attn.q_proj.weight") == 1.0
    assert s.t_for("layers.1.mlp.up_proj.weight") == 0.3
    assert s.t_for("layers.1.input_layernorm.weight") == 0.5


@pytest.mark.parametrize("name, in_ffn, in_attention", [
    ("encoder.layer.0.intermediate.dense.weight", True, False),     # BERT / MiniLM feed-forward in
    ("encoder.layer.5.output.dense.bias", True, False),             # ... and out
    ("encoder.layer.0.attention.output.dense.weight", False, True),  # attention's own output projection
    ("encoder.layer.0.output.LayerNorm.weight", False, False),
    ("embeddings.word_embeddings.weight", False, False),
    ("layers.1.mlp.up_proj.weight", True, False),                   # Qwen3 / Llama
    ("model.layers.1.self_attn.q_proj.weight", False, True),
])
def test_named_scopes_pick_the_blocks_across_architectures(name, in_ffn, in_attention):
    ffn = Schedule.parse(scoped_t("ffn", 0.25), num_layers=6)
    attention = Schedule.parse(scoped_t("attention", 0.25), num_layers=6)
    assert ffn.t_for(name) == (0.25 if in_ffn else 1.0)
    assert attention.t_for(name) == (0.25 if in_attention else 1.0)
    assert scoped_t(None, 0.25) == 0.25  # no scope: every tensor
    assert names_in_scope("ffn", [name]) == ([name] if in_ffn else [])


def test_tensor_matching_no_rule_is_named():
    s = Schedule.parse(["mlp=0.3"], num_layers=3)
    with pytest.raises(ValueError, match="layers.0.self_attn.q_proj.weight"):
        s.t_for("layers.0.self_attn.q_proj.weight")


@pytest.mark.parametrize("spec,match", [("1.5", "t=1.5 is outside"), ("-0.1", "t=-0.1"), ("0,2", "t=2"),
                                        ("mlp=abc", "not a number"), ("=0.5", "empty name filter"),
                                        ("(=0.5", "not a valid regex")])
def test_bad_specs_are_refused_with_the_value(spec, match):
    with pytest.raises(ValueError, match=match):
        Schedule.parse(spec, num_layers=3)
