"""Streaming I/O: row-block reads, sharded writes, and the all-or-nothing output directory."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from q3embed.errors import CheckpointError
from q3embed.merge.stream import ShardedWriter, atomic_output_dir, read_checkpoint_index
from q3embed.model.safetensors_file import read_header, read_rows

from merge_helpers import leftovers


def _tensors():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.randn(10, 3, generator=g), "b": torch.randn(7, generator=g).to(torch.bfloat16),
            "c": torch.arange(6, dtype=torch.int64).reshape(2, 3), "scalar": torch.tensor(2.5, dtype=torch.float16)}


def test_read_rows_matches_safetensors(tmp_path):
    tensors = _tensors()
    save_file(tensors, tmp_path / "m.safetensors")
    infos = read_header(tmp_path / "m.safetensors")
    for name, t in tensors.items():
        assert torch.equal(read_rows(infos[name]), t)
    assert torch.equal(read_rows(infos["a"], 3, 7), tensors["a"][3:7])


def test_writer_output_is_read_by_safetensors_and_transformers_index(tmp_path):
    tensors = _tensors()
    plan = [(k, v.dtype, tuple(v.shape)) for k, v in tensors.items()]
    w = ShardedWriter(tmp_path, plan, max_shard_bytes=64)  # tiny shards: several files + an index
    for k, v in tensors.items():
        rows = v.shape[0] if v.dim() else 1
        for i in range(0, rows, 4):  # several blocks per tensor
            w.write(k, v[i:i + 4] if v.dim() else v)
    w.close()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    loaded = {}
    for f in set(index["weight_map"].values()):
        loaded.update(load_file(tmp_path / f))
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
    infos = read_checkpoint_index(tmp_path)
    assert torch.equal(read_rows(infos["a"]), tensors["a"])


def test_writer_refuses_to_close_incomplete(tmp_path):
    w = ShardedWriter(tmp_path, [("a", torch.float32, (4,))])
    w.write("a", torch.zeros(2))
    with pytest.raises(RuntimeError, match="0 of 1"):
        w.close()
    w.abort()


def test_truncated_shard_is_refused_naming_the_file(tmp_path):
    save_file(_tensors(), tmp_path / "model.safetensors")
    raw = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match="model.safetensors.*truncated"):
        read_checkpoint_index(tmp_path)


def test_atomic_dir_appears_only_on_success(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(KeyError):
        with atomic_output_dir(out) as tmp:
            (tmp / "half.safetensors").write_text("x")
            raise KeyError("boom")
    assert not out.exists() and leftovers(tmp_path) == []
    with atomic_output_dir(out) as tmp:
        (tmp / "done").write_text("x")
    assert (out / "done").exists() and leftovers(tmp_path) == []


def test_atomic_dir_refuses_existing_output_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("x")
    with pytest.raises(CheckpointError, match="already exists"):
        with atomic_output_dir(out):
            pass
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in out.iterdir()) == ["new"] and leftovers(tmp_path) == []
