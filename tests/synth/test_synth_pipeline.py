"""`q3embed pipeline run`: the three stages end to end on a tiny Qwen3 with the fake LLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from synth_helpers import passages

from q3embed.cli import main
from q3embed.pipeline import merging, synthesis, training
from q3embed.pipeline import recipe as recipe_mod
from q3embed.pipeline.config import RecipeError, load_recipe


def beir_folder(root, texts):
    """A BEIR folder over ``texts``: one query per passage, even ones test, odd ones train."""
    root.mkdir()
    (root / "qrels").mkdir()
    with open(root / "corpus.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(texts))
    with open(root / "queries.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": f"q{i}", "text": "what changes " + t.split()[4] + " in region " + str(i)}) + "\n"
                     for i, t in enumerate(texts))
    for split, parity in (("test", 0), ("train", 1)):
        rows = [f"q{i}\td{i}\t1" for i in range(len(texts)) if i % 2 == parity]
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return root


def write_recipe(tmp_path, base_model, llm, **changes):
    """A recipe in tmp_path; its relative paths need the working directory to be tmp_path."""
    data = beir_folder(tmp_path / "mini", passages(24))
    (tmp_path / "sts.csv").write_text("a cat sits,a cat is sitting,4.5\na dog runs,stocks fell,0.2\n"
                                      "tea is hot,the tea is warm,4.0\nrain today,a new car,0.5\n")
    train = {"batch_size": 4, "data": {"max_length": 64}, "optim": {"lr": 1e-4, "max_steps": 2}}
    recipe = {
        "base_model": str(base_model), "output_dir": "run", "device": "cpu",
        "synth": {"corpus": str(data / "corpus.jsonl"), "llm_base_url": llm.url, "llm_model": llm.model,
                  "tasks": ["retrieval", "sts"], "n": 16, "backoff": 0.001, "concurrency": 4},
        "filter": {"threshold": 0.0},
        "stage1": {"train": train},
        "stage2": {"labelled": "mini", "checkpoints": 2, "train": train},
        "stage3": {"method": "slerp", "t": 0.5},
        "eval": {"retrieval": [{"data_dir": "mini", "split": "test"}], "sts": [{"path": "sts.csv"}]},
    }
    recipe.update(changes)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow  # three trainings, two merges, five evaluations: ~1-2 min on 2 busy cores
def test_three_stages_end_to_end_then_resume(tiny_embedding_dir, fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm)
    assert main(["pipeline", "run", str(path)]) == 0
    out, err = capsys.readouterr()
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | mini nDCG@10 | sts Spearman | mean |"
    assert [r.split(" | ")[0] for r in rows[1:]] == [
        "| base model (no training)", "| only synthetic data (stage 1)", "| w/o synthetic data (labelled SFT + merge)",
        "| w/o model merge (stage 2, last checkpoint)", "| full (stage 1 -> 2 -> merge)"]
    run = tmp_path / "run"
    state = json.loads((run / "pipeline_state.json").read_text())
    assert list(state["stages"]) == ["synth", "filter", "stage1", "stage2", "stage3", "ablation"]
    assert state["stages"]["synth"]["counts"]["written"] == 16
    assert len(state["stages"]["stage2"]["checkpoints"]) == 2
    assert (run / "stage3" / "merged" / "q3embed_merge.json").exists()
    assert json.loads((run / "stage3" / "merged" / "q3embed_merge.json").read_text())["method"] == "slerp"
    stage2_rows = (run / "data" / "stage2.jsonl").read_text().splitlines()
    assert len(stage2_rows) == 12 + state["stages"]["filter"]["n_kept"]  # 12 labelled train queries + kept
    assert (run / "ablation.md").read_text().strip() == out.strip()
    assert "filter: kept" in err and "merge: slerp of 2 checkpoints" in err

    # Rerun: every stage is skipped, the same table comes back, the LLM is not asked again.
    n_requests = len(fake_llm.requests)
    assert main(["pipeline", "run", str(path)]) == 0
    out2, err2 = capsys.readouterr()
    assert out2 == out and err2.count("done earlier, skipped") == 6
    assert len(fake_llm.requests) == n_requests


@pytest.mark.parametrize("change, message", [
    ({"stage9": {}}, "unknown recipe key 'stage9'"),
    ({"filter": {"threshold": 2}}, "filter.threshold must be a cosine"),
    ({"stage2": {"labelled": "mini", "checkpoints": 1}}, "stage2.checkpoints must be >= 2"),
    ({"synthetic_pairs": "p.jsonl"}, "exactly one of 'synth'"),
    ({"stage1": {"train": {"batch_size": 4, "optim": {"lr": "fast"}}}}, "stage1.train.optim.lr must be float, got str 'fast'"),
    ({"stage1": {"train": {"batch_size": 4, "optim": {"lrr": 1}}}}, "unknown config key 'stage1.train.optim.lrr'"),
    ({"filter": {"treshold": 0.5}}, "unknown recipe key 'filter.treshold'; accepted here: batch_size, fit_keep,"),
    ({"stage3": {"method": "ties"}}, "stage3.method 'ties' is not known; accepted: slerp, multislerp, linear"),
    ({"stage3": {"t": 2}}, "stage3.t must be in [0, 1], got 2"),
    ({"stage2": {"labelled": "mini", "checkpoints": "2"}}, "stage2.checkpoints must be int, got str '2'"),
    ({"output_dir": None}, "output_dir must be str, got NoneType None"),
    ({"synth": {"llm_base_url": "http://x/v1", "llm_model": "m"}}, "synth.corpus is required"),
    ({"stage2": {"labelled": "mini", "train": {"optim": {"epoch": 1}}}},
     "unknown config key 'stage2.train.optim.epoch'; accepted here: epochs,"),
    ({"stage3": {"guard": {"sts_dev": "no_such_dev.csv"}}}, "stage3.guard.sts_dev: no_such_dev.csv does not exist"),
])
def test_bad_recipes_fail_with_the_key_named(fake_llm, tmp_path, capsys, monkeypatch, change, message):
    """Every recipe error, the training sections' and the guard's included, stops the run before any work."""
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm, **change)
    assert main(["pipeline", "run", str(path)]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not fake_llm.requests


def test_unreachable_llm_fails_before_work(fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm)
    recipe = yaml.safe_load(path.read_text())
    recipe["synth"]["llm_base_url"] = "http://127.0.0.1:9/v1"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["pipeline", "run", str(path)]) == 1
    assert "cannot reach the LLM endpoint http://127.0.0.1:9/v1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_empty_corpus_fails_before_work(fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm)
    (tmp_path / "mini" / "corpus.jsonl").write_text("")
    assert main(["pipeline", "run", str(path)]) == 1
    assert "the corpus is empty" in capsys.readouterr().err
    assert not fake_llm.requests


def test_shipped_recipe_parses():

    cfg = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "three_stage.yaml")
    assert cfg.synth.tasks == ("retrieval", "sts", "classification") and cfg.stage2.checkpoints == 2
    assert cfg.filter.threshold == 0.7 and cfg.stage3.method == "slerp"


def test_shipped_recipe_reads_data_through_data_root():
    """Every data path of the shipped recipe lives under the one data_root setting (no machine-specific paths)."""

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "three_stage.yaml"
    cfg = load_recipe(recipe)
    assert cfg.synth.corpus == "data/scifact/corpus.jsonl" and cfg.stage2.labelled == "data/scifact"
    assert cfg.eval.retrieval[0].data_dir == "data/scifact" and cfg.eval.sts[0].path == "data/stsb/stsb-en-test.csv"
    moved = load_recipe(recipe, {"data_root": "/elsewhere"})
    assert moved.eval.retrieval[0].data_dir == "/elsewhere/scifact"
    assert "../" not in recipe.read_text()


def _weak_recipe(tmp_path, fake_llm, **synth):
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm)
    recipe = yaml.safe_load(path.read_text())
    recipe["synth"] = {"corpus": recipe["synth"]["corpus"], **synth}
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_weak_synth_stage_needs_no_llm_and_resumes(fake_llm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_recipe(_weak_recipe(tmp_path, fake_llm, weak=["first_sentence"]))
    first = synthesis.synth(recipe_mod.open_run(cfg))
    assert first["counts"]["written"] == 24 and not fake_llm.requests  # 24 two-sentence passages
    rows = [json.loads(x) for x in Path(first["pairs"]).read_text().splitlines()]
    assert all(r["provenance"]["form"] == "first_sentence" and r["query"] not in r["pos"][0] for r in rows)
    again = synthesis.synth(recipe_mod.open_run(load_recipe(tmp_path / "recipe.yaml")))
    assert again["counts"]["written"] == 0 and again["counts"]["resumed"] == 24
    assert Path(again["pairs"]).read_text() == "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


@pytest.mark.parametrize("synth, message", [
    ({"weak": ["title"], "llm_model": "m", "llm_base_url": "http://x/v1"}, "not both"),
    ({}, "either llm_base_url and llm_model"),
    ({"weak": ["abstract"]}, "synth.weak[0] 'abstract' is not known; accepted: title, first_sentence"),
    ({"weak": ["title"], "per_passage": 0}, "synth.per_passage must be >= 1, got 0"),
    ({"weak": ["title"], "tasks": ["poetry"]}, "synth.tasks[0] 'poetry' is not known; accepted: retrieval, bitext"),
    ({"weak": ["title"], "lengths": "short"}, "synth.lengths must be a list of one of short, medium, long, got str"),
])
def test_weak_recipe_errors_name_the_key(fake_llm, tmp_path, capsys, monkeypatch, synth, message):
    monkeypatch.chdir(tmp_path)
    assert main(["pipeline", "run", str(_weak_recipe(tmp_path, fake_llm, **synth))]) == 1
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("rule", [{"percentile": 50}, {"fit_keep": 0.5}])
def test_filter_stage_calibrated_thresholds(tiny_embedding_dir, tiny_embedder, fake_llm, tmp_path, monkeypatch, rule):
    import numpy as np

    from q3embed.synth.filter import fitted_threshold, pair_scores

    monkeypatch.chdir(tmp_path)
    path = _weak_recipe(tmp_path, fake_llm, weak=["first_sentence"])
    recipe = yaml.safe_load(path.read_text())
    recipe["base_model"], recipe["filter"] = str(tiny_embedding_dir), rule
    path.write_text(yaml.safe_dump(recipe))
    pipe = recipe_mod.open_run(load_recipe(path))
    pipe.state.stages["synth"] = synthesis.synth(pipe)
    out = synthesis.cosine_filter(pipe)
    if "percentile" in rule:
        assert out["n_kept"] == 12  # the upper half of 24 distinct cosines
    else:
        good = pair_scores(tiny_embedder, training.labelled_pairs("mini", "train"))
        assert out["threshold"] == pytest.approx(fitted_threshold(good, 0.5))
        rows = [json.loads(x) for x in Path(out["kept"]).read_text().splitlines()]
        assert all(max(r["filter"]["cosine"]) > out["threshold"] for r in rows) and out["n_kept"] == len(rows)
    assert np.isfinite(out["threshold"])


def test_filter_rules_are_exclusive(fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm, filter={"percentile": 10, "fit_keep": 0.9})
    assert main(["pipeline", "run", str(path)]) == 1
    assert "at most one of filter.percentile and filter.fit_keep" in capsys.readouterr().err


def test_weak_pair_wiring_seed_and_stage_costs(fake_llm, tmp_path, monkeypatch):
    """stage1.pairs=filtered trains stage 1 on the kept pairs; stage2.synthetic=false keeps stage 2 on the
    labelled pairs; the recipe's seed reaches every trainer; stage times accumulate across resumed calls."""
    import q3embed.train.embed_trainer as trainer_mod

    monkeypatch.chdir(tmp_path)
    path = _weak_recipe(tmp_path, fake_llm, weak=["first_sentence"])
    recipe = yaml.safe_load(path.read_text())
    recipe["stage1"]["pairs"], recipe["stage2"]["synthetic"], recipe["seed"] = "filtered", False, 7
    path.write_text(yaml.safe_dump(recipe))
    pipe = recipe_mod.open_run(load_recipe(path))
    (tmp_path / "kept.jsonl").write_text(json.dumps({"query": "weak q", "pos": ["weak d"]}) + "\n")
    pipe.state.stages.update(synth={"pairs": "all.jsonl"}, filter={"kept": str(tmp_path / "kept.jsonl")})
    seen = []

    class Stop(Exception):
        pass

    class FakeTrainer:
        def __init__(self, cfg):
            seen.append((cfg.data.train_file, cfg.seed))
            raise Stop

    monkeypatch.setattr(trainer_mod, "EmbedTrainer", FakeTrainer)
    with pytest.raises(Stop):
        training.stage1(pipe)
    assert seen == [(str(tmp_path / "kept.jsonl"), 7)]
    data = training.stage2_data(pipe, with_synthetic=pipe.cfg.stage2.synthetic)
    rows = [json.loads(x) for x in Path(data).read_text().splitlines()]
    assert len(rows) == 12 and all(r["query"] != "weak q" for r in rows)  # the 12 odd (train) queries only
    with pipe.state.cost("stage1"):
        pass
    with pipe.state.cost("stage1"):
        sum(range(200000))
    costs = json.loads((tmp_path / "run" / recipe_mod.STATE_FILE).read_text())["costs"]["stage1"]
    assert costs["cpu_s"] >= 0 and costs["wall_s"] >= 0 and set(costs) == {"cpu_s", "wall_s"}
    recipe["stage1"]["pairs"] = "best"
    path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError, match="stage1.pairs"):
        load_recipe(path)


def test_stage3_soups_independent_runs(tiny_embedding_dir, fake_llm, tmp_path, monkeypatch):
    """stage2.runs trains N seeded runs from one start; stage3.inputs: runs merges their final models
    (a uniform soup with method linear); "w/o merge" stays run 0's last checkpoint."""
    import q3embed.train.embed_trainer as trainer_mod

    monkeypatch.chdir(tmp_path)
    train = {"batch_size": 4, "data": {"max_length": 32}, "optim": {"lr": 1e-4, "max_steps": 2}}
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm, seed=3,
                        stage2={"labelled": "mini", "checkpoints": 2, "runs": 2, "synthetic": False, "train": train},
                        stage3={"method": "linear", "inputs": "runs"})
    pipe = recipe_mod.open_run(load_recipe(path))
    pipe.state.stages["stage1"] = {"model": str(tiny_embedding_dir)}
    seeds = []
    real = trainer_mod.EmbedTrainer

    class Spy(real):
        def __init__(self, cfg):
            seeds.append((cfg.output_dir, cfg.seed))
            super().__init__(cfg)

    monkeypatch.setattr(trainer_mod, "EmbedTrainer", Spy)
    st = training.stage2(pipe)
    assert seeds == [("run/stage2", 3), ("run/stage2-run1", 1003)]  # relative to the recipe's working directory
    assert st["runs"] == ["run/stage2/checkpoint-2", "run/stage2-run1/checkpoint-2"]
    assert st["model"] == st["checkpoints"][-1] == st["runs"][0]
    pipe.state.stages["stage2"] = st
    merged = merging.stage3(pipe)["model"]
    record = json.loads((Path(merged) / "q3embed_merge.json").read_text())
    assert record["method"] == "linear" and len(record["inputs"]) == 2
    written = [f.stat().st_mtime_ns for f in sorted(Path(merged).iterdir())]
    assert merging.stage3(pipe)["model"] == merged  # a rerun keeps the finished merge (and its cached embeddings)
    assert [f.stat().st_mtime_ns for f in sorted(Path(merged).iterdir())] == written

    # the soup is the element-wise mean of the two runs
    from safetensors.torch import load_file

    a, b, m = (load_file(next(Path(p).glob("*.safetensors"))) for p in (*st["runs"], merged))
    name = next(k for k in m if m[k].is_floating_point() and not (a[k] == b[k]).all())
    assert ((a[name].float() + b[name].float()) / 2 - m[name].float()).abs().max() < 1e-6


def test_stage3_runs_need_several_runs(fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm, stage3={"method": "linear", "inputs": "runs"})
    assert main(["pipeline", "run", str(path)]) == 1
    assert "stage3.inputs: runs merges the final models of stage2.runs runs; stage2.runs is 1" in capsys.readouterr().err


@pytest.mark.parametrize("scores, t, within", [
    ({"merged": 79.6}, 1.0, True),                                   # within budget: the merged model itself
    ({"merged": 70.0, "guard-t0.9": 74.0, "guard-t0.8": 79.6}, 0.8, True),  # the largest t within budget
    ({"merged": 70.0, "guard-t0.9": 71.0, "guard-t0.8": 72.0}, 0.8, False),  # none: the smallest t, said so
])
def test_stage3_guard_steps_back_toward_the_base(tiny_embedding_dir, fake_llm, tmp_path, monkeypatch, scores, t, within):
    """stage3.guard: slerp(base -> merged, t) for the largest t whose STS dev is within max_drop of the base's."""
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm,
                        stage3={"method": "slerp", "guard": {"sts_dev": "sts.csv", "max_drop": 0.5, "grid": [0.8, 0.9]}})
    pipe = recipe_mod.open_run(load_recipe(path))
    assert pipe.cfg.stage3.guard.grid == (0.9, 0.8)  # largest first
    asked = []

    def sts_dev(run, model, csv):
        asked.append(Path(model).name)
        return 80.0 if model == str(tiny_embedding_dir) else scores[Path(model).name]

    monkeypatch.setattr(merging, "sts_dev", sts_dev)
    merged = tmp_path / "merged"
    import shutil

    shutil.copytree(tiny_embedding_dir, merged)
    out = merging.guard(pipe, str(merged), tmp_path / "stage3")
    assert out["guard"]["t"] == t and out["guard"]["within"] is within and out["guard"]["budget"] == 79.5
    assert asked == [tiny_embedding_dir.name, *scores]  # stops at the first t within budget
    if t == 1.0:
        assert out["model"] == str(merged)
    else:
        record = json.loads((Path(out["model"]) / "q3embed_merge.json").read_text())
        assert Path(out["model"]).name == f"guard-t{t:g}" and record["method"] == "slerp" and record["t"] == t


def test_stage3_guard_scope_steps_back_only_those_tensors(tiny_embedding_dir, fake_llm, tmp_path, monkeypatch):
    """stage3.guard.scope: ffn: the feed-forward tensors become slerp(base -> merged, t), the rest stay merged."""
    import torch
    from safetensors.torch import load_file, save_file

    from q3embed.merge.slerp import slerp

    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm,
                        stage3={"method": "slerp", "guard": {"sts_dev": "sts.csv", "max_drop": 0.5, "grid": [0.5],
                                                            "scope": "ffn"}})
    pipe = recipe_mod.open_run(load_recipe(path))
    merged = tmp_path / "merged"
    import shutil

    shutil.copytree(tiny_embedding_dir, merged)
    weights_file = next(merged.glob("*.safetensors"))
    gen = torch.Generator().manual_seed(0)
    save_file({k: v + 0.1 * torch.randn(v.shape, generator=gen).to(v.dtype) if v.is_floating_point() else v
               for k, v in load_file(weights_file).items()}, weights_file)
    monkeypatch.setattr(merging, "sts_dev", lambda run, model, csv: {"merged": 70.0}.get(Path(model).name, 80.0))
    out = merging.guard(pipe, str(merged), tmp_path / "stage3")
    assert out["guard"]["t"] == 0.5 and out["guard"]["scope"] == "ffn" and out["guard"]["within"]
    assert Path(out["model"]).name == "guard-ffn-t0.5"  # beside, not over, a whole-model guard's guard-t0.5

    base, m, g = (load_file(next(Path(p).glob("*.safetensors"))) for p in (tiny_embedding_dir, merged, out["model"]))
    ffn = [k for k in g if ".mlp." in k]
    rest = [k for k in g if ".mlp." not in k and g[k].is_floating_point()]
    assert ffn and rest
    for k in ffn:  # stepped halfway back toward the base
        assert not torch.equal(g[k], m[k])
        assert torch.allclose(g[k].float(), slerp(base[k].float(), m[k].float(), 0.5).to(g[k].dtype).float(), atol=1e-2)
    for k in rest:  # attention, norms, embeddings: exactly as merged
        assert torch.equal(g[k], m[k]), k


def test_stage3_guard_scope_must_name_some_tensor(tiny_embedding_dir, fake_llm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm,
                        stage3={"guard": {"sts_dev": "sts.csv", "scope": "intermediate\\.dense"}})
    pipe = recipe_mod.open_run(load_recipe(path))
    with pytest.raises(RecipeError, match=r"stage3.guard.scope 'intermediate\\\\.dense' matches no tensor of .*use 'ffn'"):
        merging.guard(pipe, str(tiny_embedding_dir), tmp_path / "stage3")


def test_stage3_guard_scope_is_matched_before_any_work(tiny_embedding_dir, fake_llm, tmp_path, capsys, monkeypatch):
    """The base model's tensor names decide, before synth and training, not after them."""
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tiny_embedding_dir, fake_llm,
                        stage3={"guard": {"sts_dev": "sts.csv", "scope": "no_such_tensor"}})
    assert main(["pipeline", "run", str(path)]) == 1
    assert "stage3.guard.scope 'no_such_tensor' matches no tensor of " in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not fake_llm.requests


def test_stop_after_names_the_stages(capsys):
    with pytest.raises(SystemExit) as e:
        main(["pipeline", "run", "recipe.yaml", "--stop-after", "stage4"])
    assert e.value.code == 2
    assert "--stop-after: invalid choice: 'stage4' (choose from 'synth', 'filter', 'stage1', 'stage2', 'stage3', " \
           "'ablation')" in capsys.readouterr().err


@pytest.mark.parametrize("scope, message", [
    ("mlp[", "stage3.guard.scope 'mlp[' is not 'ffn', 'attention' or a valid regex"),
    ("mlp=x", "stage3.guard.scope 'mlp=x' may not contain '='"),
])
def test_stage3_guard_scope_is_checked(fake_llm, tmp_path, capsys, monkeypatch, scope, message):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm,
                        stage3={"guard": {"sts_dev": "sts.csv", "scope": scope}})
    assert main(["pipeline", "run", str(path)]) == 1
    assert message in capsys.readouterr().err


def test_stage3_guard_grid_is_checked(fake_llm, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm,
                        stage3={"guard": {"sts_dev": "sts.csv", "grid": [1.0]}})
    assert main(["pipeline", "run", str(path)]) == 1
    assert "stage3.guard.grid values must be in [0, 1), got [1.0]" in capsys.readouterr().err


def _filter_recipe(tmp_path, fake_llm, model, **filter_rule):
    path = tmp_path / "recipe.yaml"
    if not path.exists():
        _weak_recipe(tmp_path, fake_llm, weak=["first_sentence"])
    recipe = yaml.safe_load(path.read_text())
    recipe["base_model"], recipe["filter"] = str(model), filter_rule
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_an_edited_recipe_is_refused_or_rerun_never_skipped(tiny_embedding_dir, fake_llm, tmp_path, capsys, monkeypatch):
    """A finished stage whose recipe keys changed is not passed off as done: the run stops naming the
    key and --rerun; with --rerun that stage runs again (and the stages before it stay skipped)."""
    monkeypatch.chdir(tmp_path)
    state_file = tmp_path / "run" / recipe_mod.STATE_FILE
    run = ["pipeline", "run", str(tmp_path / "recipe.yaml"), "--stop-after", "filter"]
    _filter_recipe(tmp_path, fake_llm, tiny_embedding_dir, percentile=20)
    assert main(run) == 0
    capsys.readouterr()
    first = json.loads(state_file.read_text())
    assert first["stages"]["filter"]["n_kept"] == 19  # the upper 80% of 24 distinct cosines

    assert main(run) == 0  # unchanged: both stages skip
    assert capsys.readouterr().err.count("done earlier, skipped") == 2

    _filter_recipe(tmp_path, fake_llm, tiny_embedding_dir, percentile=50)
    assert main(run) == 1
    err = capsys.readouterr().err
    assert "the recipe changed since stages filter ran" in err and "filter.percentile 20.0 -> 50.0" in err
    assert "--rerun" in err and "done earlier" not in err
    assert json.loads(state_file.read_text()) == first  # refused before any work

    assert main([*run, "--rerun"]) == 0
    err = capsys.readouterr().err
    assert "== synth: done earlier, skipped" in err and "== filter: the recipe changed" in err
    assert json.loads(state_file.read_text())["stages"]["filter"]["n_kept"] == 12
    assert main(run) == 0  # the new recipe is now the recorded one
    assert capsys.readouterr().err.count("done earlier, skipped") == 2


def test_stage_fingerprints_follow_what_each_stage_reads(fake_llm, tmp_path, monkeypatch):
    """A key changes its own stage's fingerprint and those of the stages that read its outputs, no
    others; keys that only change how a stage runs (device, the eval's batch size) change none."""
    from q3embed.pipeline.fingerprint import changed_keys

    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm)
    base = yaml.safe_load(path.read_text())

    def fingerprints(**edit):
        recipe = json.loads(json.dumps(base))  # unshared: stage1.train and stage2.train are one YAML alias
        for dotted, value in edit.items():
            *parents, key = dotted.split("__")
            node = recipe
            for p in parents:
                node = node.setdefault(p, {})
            node[key] = value
        path.write_text(yaml.safe_dump(recipe))
        return recipe_mod.open_run(load_recipe(path)).inputs

    before = fingerprints()
    stages = list(before)

    def changed(**edit):
        after = fingerprints(**edit)
        return [n for n in stages if after[n].fingerprint != before[n].fingerprint]

    assert changed(filter__threshold=0.5) == ["filter", "stage2", "stage3"]  # stage 1 reads all synthetic pairs
    assert changed(stage1__pairs="filtered", filter__threshold=0.5) == ["filter", "stage1", "stage2", "stage3"]
    assert changed(stage1__train__optim__lr=1e-3) == ["stage1", "stage2", "stage3"]
    assert changed(stage2__train__optim__lr=1e-3) == ["stage2", "stage3", "ablation"]
    assert changed(stage3__t=0.3) == ["stage3", "ablation"]
    assert changed(seed=5) == ["stage1", "stage2", "stage3", "ablation"]
    assert changed(synth__n=8) == ["synth", "filter", "stage1", "stage2", "stage3"]
    assert changed(device="cuda", eval__batch_size=8, synth__concurrency=1) == []
    (tmp_path / "mini" / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert changed() == ["stage2", "stage3", "ablation"]  # the labelled pairs' folder changed on disk
    assert changed_keys(before["stage3"].record(), fingerprints(stage3__t=0.3)["stage3"]) == ["stage3.t 0.5 -> 0.3"]
    assert "secret" not in json.dumps(fingerprints(synth__llm_api_key="secret")["synth"].keys)


def test_a_stage_killed_midway_resumes_only_under_its_own_recipe(fake_llm, tmp_path, monkeypatch):
    """A stage that started (its inputs recorded) but never finished resumes when the recipe is as it
    was, and is refused, or with rerun started over from nothing, when the recipe changed."""
    monkeypatch.chdir(tmp_path)
    path = write_recipe(tmp_path, tmp_path / "no_model_needed", fake_llm)
    run = recipe_mod.open_run(load_recipe(path))
    run.out.mkdir()
    run.state.inputs["stage1"] = run.inputs["stage1"].record()  # killed after this, mid-training
    (run.out / "stage1").mkdir()
    (run.out / "stage1" / "checkpoint-1").mkdir()
    run.state.save()

    same = recipe_mod.open_run(load_recipe(path))
    recipe_mod.refuse_or_reset_changed(same, list(recipe_mod.STAGE_FUNCTIONS), rerun=False)  # resumes

    recipe = yaml.safe_load(path.read_text())
    recipe["stage1"]["train"] = {**recipe["stage1"]["train"], "optim": {"lr": 1e-3, "max_steps": 2}}
    path.write_text(yaml.safe_dump(recipe))
    edited = recipe_mod.open_run(load_recipe(path))
    with pytest.raises(RecipeError, match=r"stages stage1 ran in run \(stage1.train.optim.lr 0.0001 -> 0.001\); "
                                          r"rerun with --rerun"):
        recipe_mod.refuse_or_reset_changed(edited, list(recipe_mod.STAGE_FUNCTIONS), rerun=False)
    assert (run.out / "stage1" / "checkpoint-1").exists()
    recipe_mod.refuse_or_reset_changed(edited, list(recipe_mod.STAGE_FUNCTIONS), rerun=True)
    assert not (run.out / "stage1").exists() and "stage1" not in recipe_mod.open_run(load_recipe(path)).state.inputs
