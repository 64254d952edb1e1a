"""A run killed after a checkpoint resumes and continues the same loss curve (CPU, fixed seed)."""

from __future__ import annotations

import json

import pytest

from q3embed.train.config import load_config
from q3embed.train.embed_trainer import EmbedTrainer


class Killed(RuntimeError):
    pass


def make_cfg(tiny_embedding_dir, out, toy_train_file, train_overrides):
    # LoRA dropout makes every step draw random numbers, so the RNG state must be restored too.
    return load_config(None, train_overrides(
        tiny_embedding_dir, out, toy_train_file, "batch_size=4", "data.num_negatives=1", "optim.max_steps=4",
        "save_every=2", "optim.lr=1e-3", "lora.enabled=true", "lora.rank=4", "lora.dropout=0.1"))


def test_killed_run_resumes_with_identical_losses(tmp_path, tiny_embedding_dir, toy_train_file, train_overrides):
    straight = EmbedTrainer(make_cfg(tiny_embedding_dir, tmp_path / "a", toy_train_file, train_overrides)).setup()
    want = straight.train()
    assert len(want) == 4

    first = EmbedTrainer(make_cfg(tiny_embedding_dir, tmp_path / "b", toy_train_file, train_overrides)).setup()
    step = first.training_step

    def dies_in_step_3(epoch, rows):
        if first.step == 2:  # checkpoint-2 is on disk; step 3 never finishes
            raise Killed
        return step(epoch, rows)

    first.training_step = dies_in_step_3
    with pytest.raises(Killed):
        first.train()
    assert (tmp_path / "b" / "checkpoint-2").is_dir()

    resumed = EmbedTrainer(make_cfg(tiny_embedding_dir, tmp_path / "b", toy_train_file, train_overrides)).setup()
    assert resumed.resumed_from.name == "checkpoint-2" and resumed.step == 2
    got = resumed.train()
    assert got == pytest.approx(want[2:], abs=1e-6)

    log = [json.loads(x) for x in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert [r["loss"] for r in log] == pytest.approx(want, abs=1e-6)


def test_resume_false_starts_over(tmp_path, tiny_embedding_dir, toy_train_file, train_overrides):
    cfg = make_cfg(tiny_embedding_dir, tmp_path, toy_train_file, train_overrides)
    (tmp_path / "checkpoint-2" / "trainer_state").mkdir(parents=True)
    (tmp_path / "checkpoint-2" / "trainer_state" / "state.json").write_text('{"step": 2}')
    cfg.resume = False
    t = EmbedTrainer(cfg).setup()
    assert t.step == 0 and t.resumed_from is None
