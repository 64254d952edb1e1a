"""Bad configs are rejected with a message naming the key, before any model is loaded."""

from __future__ import annotations

import pytest

from q3embed.cli import main
from q3embed.errors import InputFileError
from q3embed.train.config import ConfigError, EmbedTrainConfig, load_config

NO_MODEL = "/nonexistent/model"  # setup() must fail on config/data before it would try to load this


@pytest.fixture
def embed_cfg(train_overrides):
    def make(tmp_path, train_file, *extra):
        return load_config(None, train_overrides(NO_MODEL, tmp_path / "out", train_file, *extra), kind="embed")
    return make


def test_yaml_with_overrides(tmp_path, toy_train_file):
    y = tmp_path / "cfg.yaml"
    y.write_text(f"model: m\noutput_dir: {tmp_path}\nbatch_size: 4\ndata:\n  train_file: {toy_train_file}\n"
                 "optim:\n  lr: 1e-4\nloss:\n  mrl_dims: [32, 64]\n")
    cfg = load_config(y, ["loss.temperature=0.02", "lora.enabled=true", "optim.epochs=2"])
    assert isinstance(cfg, EmbedTrainConfig)
    assert cfg.optim.lr == 1e-4 and cfg.loss.temperature == 0.02 and cfg.lora.enabled and cfg.optim.epochs == 2
    assert cfg.loss.mrl_dims == [32, 64]


@pytest.mark.parametrize("override, words", [
    ("loss.tempreature=0.1", ["unknown config key 'loss.tempreature'", "temperature"]),
    ("bogus=1", ["unknown config key 'bogus'"]),
    ("batch_size=abc", ["batch_size must be int", "str"]),
    ("batch_size=3.5", ["batch_size must be int"]),
    ("lora.enabled=yes please", ["lora.enabled must be bool"]),
    ("loss.mrl_dims=[32, x]", ["loss.mrl_dims[1] must be int"]),
    ("loss.temperature=0", ["temperature must be > 0"]),
    ("optim.scheduler=step", ["optim.scheduler", "linear, cosine, constant"]),
    ("batch_size=1", ["batch_size must be >= 2"]),
    ("data=5", ["data must be a mapping"]),
    ("optim.warmup_ratio=1.5", ["optim.warmup_ratio must be in [0, 1), got 1.5"]),
    ("optim.max_steps=0", ["optim.max_steps must be >= 1, got 0"]),
    ("save_every=-1", ["save_every must be >= 0, got -1"]),
    ("lora.target_modules=q_proj", ["lora.target_modules must be a list of str, got str 'q_proj'"]),
    ("lora.dropout=1", ["lora.dropout must be in [0, 1), got 1"]),
])
def test_bad_keys_and_types(tmp_path, toy_train_file, override, words, embed_cfg):
    with pytest.raises(ConfigError) as e:
        embed_cfg(tmp_path, toy_train_file, override)
    for w in words:
        assert w in str(e.value)


def test_a_section_built_alone_names_its_section():
    from q3embed.train.config import LoraConfig, OptimConfig

    with pytest.raises(ConfigError, match=r"^lora\.rank must be >= 1, got 0$"):
        LoraConfig(rank=0)
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lrr'; accepted here: epochs, lr,"):
        OptimConfig(lrr=1.0)
    assert LoraConfig(rank=4, alpha=8).alpha == 8.0  # an int is a float


def test_missing_required_fields(tmp_path):
    with pytest.raises(ConfigError, match="data.train_file is required"):
        load_config(None, ["model=m", f"output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="model is required"):
        load_config(None, [f"output_dir={tmp_path}", "data.train_file=x"])


def test_missing_data_is_reported_before_model_load(tmp_path, embed_cfg):
    from q3embed.train.embed_trainer import EmbedTrainer

    cfg = embed_cfg(tmp_path, tmp_path / "missing.jsonl")
    with pytest.raises(InputFileError) as e:  # about the data, not the (nonexistent) model
        EmbedTrainer(cfg).setup()
    assert "missing.jsonl" in str(e.value) and "does not exist" in str(e.value)


def test_impossible_batch_is_reported_before_model_load(tmp_path, toy_train_file, embed_cfg):
    from q3embed.train.embed_trainer import EmbedTrainer

    with pytest.raises(ConfigError, match="larger than the 24 training rows"):
        EmbedTrainer(embed_cfg(tmp_path, toy_train_file, "batch_size=64")).setup()


def test_missing_negatives_reported(tmp_path, embed_cfg):
    from q3embed.train.embed_trainer import EmbedTrainer

    f = tmp_path / "noneg.jsonl"
    f.write_text('{"query": "a", "pos": "b"}\n{"query": "c", "pos": "d"}\n')
    with pytest.raises(ValueError, match="no negatives"):
        EmbedTrainer(embed_cfg(tmp_path, f, "batch_size=2", "data.num_negatives=2")).setup()
    # ... unless the loss does not use hard negatives: then it gets as far as the model
    with pytest.raises(Exception, match="nonexistent"):
        EmbedTrainer(embed_cfg(tmp_path, f, "batch_size=2", "loss.hard_negatives=false")).setup()


def test_cli_reports_bad_config_and_exits_1(tmp_path, toy_train_file, capsys, train_overrides):
    rc = main(["train", "embed", *train_overrides(NO_MODEL, tmp_path, toy_train_file, "loss.nope=1")])
    assert rc == 1
    assert "unknown config key 'loss.nope'" in capsys.readouterr().err
    rc = main(["train", "rerank", *train_overrides(NO_MODEL, tmp_path, toy_train_file, "loss.label_softmax=bad")])
    assert rc == 1
    assert "label_softmax" in capsys.readouterr().err


@pytest.mark.parametrize("loader", ["train", "recipe"])
def test_missing_file_and_bad_yaml_are_named(tmp_path, loader):
    from q3embed.pipeline.config import RecipeError, load_recipe
    from q3embed.train.config import ConfigError, load_config

    load, error = ((lambda p: load_config(p, kind="embed")), ConfigError) if loader == "train" else (load_recipe, RecipeError)
    with pytest.raises(error, match="does not exist"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(error, match=r"bad\.yaml: invalid YAML"):
        load(bad)
