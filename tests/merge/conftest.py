"""Fixtures for the merge tests: small synthetic checkpoints and perturbed copies of real ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from merge_helpers import SMALL_CONFIG, perturbed_copy


@pytest.fixture
def write_checkpoint(tmp_path):
    """write_checkpoint(name, tensors, config=None, shards=1) -> checkpoint dir under tmp_path."""
    from safetensors.torch import save_file

    def write(name: str, tensors: dict, config: dict | None = None, shards: int = 1) -> Path:
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps(config or SMALL_CONFIG))
        (d / "tokenizer_config.json").write_text("{}")
        names = list(tensors)
        if shards == 1:
            save_file({k: v.contiguous() for k, v in tensors.items()}, d / "model.safetensors", metadata={"format": "pt"})
            return d
        weight_map = {}
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = names[s::shards]
            save_file({k: tensors[k].contiguous() for k in part}, d / fname, metadata={"format": "pt"})
            weight_map.update({k: fname for k in part})
        (d / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        return d

    return write


@pytest.fixture(scope="session")
def tiny_embedding_b(tiny_embedding_dir, tmp_path_factory):
    return perturbed_copy(tiny_embedding_dir, tmp_path_factory.mktemp("merge") / "tiny_embedding_b", seed=1, scale=0.3)
