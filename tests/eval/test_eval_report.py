"""Results files and the markdown summary table."""

from __future__ import annotations

import json

import pytest

from q3embed.errors import InputFileError
from q3embed.eval.report import load_results, markdown_report, save_result


def _res(model, task, dataset, score):
    return {"task": task, "dataset": dataset, "model": model, "main_score": score, "dim": 384}


def test_table_has_task_columns_type_means_and_overall_means(tmp_path):
    for i, r in enumerate([_res("m1", "retrieval", "SciFact", 0.60), _res("m1", "retrieval", "NFCorpus", 0.30),
                           _res("m1", "sts", "STSB", 0.80), _res("m2", "sts", "STSB", 0.90)]):
        save_result(r, tmp_path / f"r{i}.json")
    rows, notes = load_results([tmp_path])
    table = markdown_report(rows)
    lines = table.splitlines()
    assert lines[0] == "| Model | NFCorpus | SciFact | STSB | Retrieval mean | STS mean | Mean (Task) | Mean (Type) |"
    # m1: retrieval mean 45, STS 80; task mean (30+60+80)/3 = 56.67; type mean (45+80)/2 = 62.5
    assert lines[2] == "| m1 | 30.00 | 60.00 | 80.00 | 45.00 | 80.00 | 56.67 | 62.50 |"
    assert lines[3] == "| m2* | – | – | 90.00 | – | 90.00 | 90.00 | 90.00 |"
    assert "missing some tasks" in table and not notes


def test_mteb_result_files_and_skips_are_reported(tmp_path):
    folder = tmp_path / "org__model" / "rev"
    folder.mkdir(parents=True)
    (folder / "model_meta.json").write_text(json.dumps({"name": "org/model"}))
    (folder / "SciFact.json").write_text(json.dumps({"task_name": "SciFact", "scores": {
        "test": [{"main_score": 0.6451, "hf_subset": "default"}]}}))
    (tmp_path / "junk.json").write_text("[]")
    rows, notes = load_results([tmp_path])
    assert rows == [{"model": "org/model", "task_type": "Retrieval", "column": "SciFact", "score": 0.6451, "dim": None}]
    assert len(notes) == 1 and "junk.json" in notes[0]
    (tmp_path / "bad.json").write_text("{\n oops")
    with pytest.raises(InputFileError, match=r"bad\.json:2: invalid JSON"):
        load_results([tmp_path / "bad.json"])


def test_empty_report_is_an_error():
    with pytest.raises(ValueError):
        markdown_report([])
