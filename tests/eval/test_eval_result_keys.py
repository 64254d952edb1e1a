"""Results files are keyed by the model's identity: two models in folders both called `final`
write two files, and the same model run again replaces its own."""

import json
import shutil

from q3embed.cli import main
from q3embed.eval.report import default_result_path


def test_two_models_named_final_keep_separate_results(tmp_path, tiny_embedding_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for run in ("run-a", "run-b"):
        shutil.copytree(tiny_embedding_dir, tmp_path / run / "final")
    (tmp_path / "sts.csv").write_text("a cat sits,a cat is sitting,4.5\nrain falls,the sun shines,0.5\n"
                                      "dogs bark,a dog barks,4.0\n")
    for run in ("run-a", "run-b", "run-a"):
        assert main(["eval", "--task", "sts", "--data", "sts.csv", "--model", f"{run}/final"]) == 0
    files = sorted((tmp_path / "eval-results").iterdir())
    assert len(files) == 2, files
    assert sorted(json.loads(f.read_text())["model"] for f in files) == ["run-a/final", "run-b/final"]
    assert all(f.name.startswith("final-") and f.name.endswith("__sts__sts.json") for f in files)


def test_a_hub_name_is_keyed_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = default_result_path({"model": "Qwen/Qwen3-Embedding-0.6B", "task": "sts", "dataset": "stsb"})
    b = default_result_path({"model": "other/Qwen3-Embedding-0.6B", "task": "sts", "dataset": "stsb"})
    assert a != b and a.name.startswith("Qwen3-Embedding-0.6B-")
    assert a == default_result_path({"model": "Qwen/Qwen3-Embedding-0.6B", "task": "sts", "dataset": "stsb"})
