"""Pure bookkeeping of packed batches, shared prefixes and the CPU precision choice."""

from __future__ import annotations

import pytest
import torch

from q3embed.runtime.packing import common_prefix_length, pack


def test_pack_positions_and_last_index():
    b = pack([[5, 6, 7], [8], [9, 10]])
    assert b.input_ids.tolist() == [5, 6, 7, 8, 9, 10]
    assert b.positions.tolist() == [0, 1, 2, 0, 0, 1]
    assert b.last_index.tolist() == [2, 3, 5]
    assert b.starts == [0, 3, 4] and b.num_tokens == 6


def test_pack_after_prefix_continues_positions():
    b = pack([[1, 2], [3]], prefix_lengths=[4, 4], prefix_group=[0, 0])
    assert b.positions.tolist() == [4, 5, 4]


def test_pack_rejects_empty_rows():
    with pytest.raises(ValueError, match="at least one token"):
        pack([[1], []])


@pytest.mark.parametrize("rows, expected", [
    ([[1, 2, 3, 4], [1, 2, 3, 5]], 3),
    ([[1, 2, 3], [1, 2, 3]], 2),  # identical rows still keep one own token each
    ([[1, 2], [9, 2]], 0),
    ([[1, 2, 3, 4]], 3),
    ([[7], [7, 8]], 0),
])
def test_common_prefix_length(rows, expected):
    assert common_prefix_length(rows) == expected


def test_grouped_batches_keep_one_key_per_batch():
    from q3embed.runtime.batching import grouped_length_sorted_batches

    ids = [[1] * n for n in (5, 2, 7, 3, 1, 4)]
    keys = ["a", "b", "a", "b", "a", "a"]
    batches = list(grouped_length_sorted_batches(ids, keys, batch_size=2))
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len({keys[i] for i in b}) == 1 and len(b) <= 2 for b in batches)
    assert batches[0] == [2, 0]  # longest first within a key


def test_auto_dtype_follows_native_bf16(monkeypatch):
    from q3embed.model import cpu
    from q3embed.model.loading import pick_dtype

    cpu_dev = torch.device("cpu")
    monkeypatch.setattr(cpu, "has_native_bf16", lambda: True)
    assert pick_dtype("auto", cpu_dev) == torch.bfloat16
    assert pick_dtype(None, cpu_dev, "bfloat16") == torch.bfloat16  # a bf16 release runs in bf16
    assert pick_dtype(None, cpu_dev, "float32") == torch.float32  # an fp32 release stays fp32
    assert pick_dtype(None, cpu_dev) == torch.float32
    assert pick_dtype("float32", cpu_dev, "bfloat16") == torch.float32  # the documented override
    monkeypatch.setattr(cpu, "has_native_bf16", lambda: False)
    assert pick_dtype("auto", cpu_dev) == torch.float32
    assert pick_dtype(None, cpu_dev, "bfloat16") == torch.float32  # no emulated bf16 by default


def test_default_dtype_is_the_checkpoints_own_half_precision(tmp_path, qwen3_tokenizer_dir, monkeypatch):
    from q3embed import Embedder
    from q3embed.model import cpu
    from q3embed.model.tiny import save_tiny_qwen3

    bf16_dir = save_tiny_qwen3(tmp_path / "bf16", tokenizer_dir=qwen3_tokenizer_dir, dtype=torch.bfloat16)
    monkeypatch.setattr(cpu, "has_native_bf16", lambda: True)
    assert Embedder.load(bf16_dir, device="cpu").dtype == torch.bfloat16
    assert Embedder.load(bf16_dir, device="cpu", dtype="float32").dtype == torch.float32
    monkeypatch.setattr(cpu, "has_native_bf16", lambda: False)
    assert Embedder.load(bf16_dir, device="cpu").dtype == torch.float32
