"""``q3embed merge`` and ``q3embed merge search``: both argument forms, errors, the search table."""

from __future__ import annotations

import pytest
import torch
from merge_helpers import leftovers, small_tensors
from safetensors.torch import load_file

from q3embed.cli import build_parser, main
from q3embed.merge import search as search_mod
from q3embed.merge import slerp


def test_both_forms_parse():
    parser = build_parser()
    a = parser.parse_args(["merge", "--method", "slerp", "--t", "0.5", "A", "B", "--out", "C"])
    assert (a.inputs, a.out, a.t, a.func.__name__) == (["A", "B"], "C", ["0.5"], "run")
    s = parser.parse_args(["merge", "search", "--checkpoints", "A", "B", "--task", "retrieval", "--data", "D"])
    assert (s.checkpoints, s.task, s.data, s.func.__name__) == (["A", "B"], "retrieval", "D", "run_search")


def test_cli_slerp_writes_the_merge(write_checkpoint, tmp_path, capsys):
    ta, tb = small_tensors(0), small_tensors(1)
    a, b = write_checkpoint("a", ta), write_checkpoint("b", tb)
    assert main(["merge", "--method", "slerp", "--t", "mlp=0.2", "--t", "0.7", str(a), str(b), "--out", str(tmp_path / "c")]) == 0
    out = load_file(tmp_path / "c" / "model.safetensors")
    k = "layers.1.mlp.up_proj.weight"
    torch.testing.assert_close(out[k], slerp(ta[k], tb[k], 0.2))
    torch.testing.assert_close(out["embed_tokens.weight"], slerp(ta["embed_tokens.weight"], tb["embed_tokens.weight"], 0.7))
    assert "merged" in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--t", "1.5"], "t=1.5 is outside"),
    (["--method", "linear", "--weights", "1,x"], "--weights"),
    (["--method", "linear", "--t", "0.3"], "--t applies to slerp only"),
    (["--shard-size", "lots"], "--shard-size"),
])
def test_cli_errors_are_one_line_and_leave_nothing(write_checkpoint, tmp_path, capsys, extra, message):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "c"), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "c").exists() and leftovers(tmp_path) == []


def _fake_evaluator(target):
    """Scores a checkpoint by closeness of one tensor to ``target``: the best t is known."""
    def make(task, data, **kw):
        def evaluate(path):
            w = load_file(path / "model.safetensors")["layers.0.mlp.up_proj.weight"]
            return {"main_score": float(1 - (w - target).norm() / target.norm()), "ndcg_at_10": 0.5}
        return evaluate
    return make


def test_cli_search_reports_the_best_and_saves_it(write_checkpoint, tmp_path, capsys, monkeypatch):
    ta, tb = small_tensors(0), small_tensors(1)
    a, b = write_checkpoint("a", ta), write_checkpoint("b", tb)
    k = "layers.0.mlp.up_proj.weight"
    monkeypatch.setattr(search_mod, "evaluator", _fake_evaluator(slerp(ta[k], tb[k], 0.75)))
    rc = main(["merge", "search", "--checkpoints", str(a), str(b), "--task", "retrieval", "--data", str(tmp_path),
               "--grid", "0.25,0.5,0.75", "--out", str(tmp_path / "best"), "--report", str(tmp_path / "table.md")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| slerp t=0.75 (a → b) **(best)** |" in out and out.count("\n| ") == 5  # 2 inputs + 3 merges
    assert "best: slerp t=0.75" in out
    assert (tmp_path / "table.md").read_text().startswith("| candidate |")
    torch.testing.assert_close(load_file(tmp_path / "best" / "model.safetensors")[k], slerp(ta[k], tb[k], 0.75))
    assert not (tmp_path / "best.work").exists()  # candidates removed without --keep


def test_cli_search_saves_an_input_that_wins_and_overwrites_only_when_asked(write_checkpoint, tmp_path, capsys,
                                                                             monkeypatch):
    ta, tb = small_tensors(0), small_tensors(1)
    a, b = write_checkpoint("a", ta), write_checkpoint("b", tb)
    k = "layers.0.mlp.up_proj.weight"
    monkeypatch.setattr(search_mod, "evaluator", _fake_evaluator(ta[k]))  # input a itself scores best
    cmd = ["merge", "search", "--checkpoints", str(a), str(b), "--task", "retrieval", "--data", str(tmp_path),
           "--grid", "0.5", "--out", str(tmp_path / "best")]
    assert main(cmd) == 0
    assert "saved the best model, an input checkpoint, to" in capsys.readouterr().err
    torch.testing.assert_close(load_file(tmp_path / "best" / "model.safetensors")[k], ta[k])
    assert main(cmd) == 1  # the same command again: --out exists
    err = capsys.readouterr().err.strip()
    assert "already exists; choose another directory, or pass --overwrite" in err and len(err.splitlines()) == 1
    monkeypatch.setattr(search_mod, "evaluator", _fake_evaluator(tb[k]))  # now b wins
    assert main(cmd + ["--overwrite"]) == 0
    torch.testing.assert_close(load_file(tmp_path / "best" / "model.safetensors")[k], tb[k])
    assert not (tmp_path / "best.partial").exists()


@pytest.mark.parametrize("extra, message", [
    (["--task", "sts", "--data", "no_such.csv"], "--data no_such.csv does not exist"),
    (["--val-data", "VAL", "--sts-dev", "no_such_dev.csv"], "--sts-dev no_such_dev.csv does not exist"),
    (["--task", "sts", "--data", "x.csv", "--strategy", "foo"], "argument --strategy: invalid choice: 'foo'"),
])
def test_cli_search_input_errors_come_first_in_one_line(write_checkpoint, tmp_path, capsys, monkeypatch, extra, message):
    a, b = write_checkpoint("a", small_tensors(0)), write_checkpoint("b", small_tensors(1))
    calls = []
    monkeypatch.setattr(search_mod, "evaluator", lambda *a, **k: calls.append(1) or (lambda p: {"main_score": 0.0}))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "VAL").mkdir()
    try:
        rc = main(["merge", "search", "--checkpoints", str(a), str(b), *extra])
    except SystemExit as e:  # argparse's usage errors exit 2
        rc = e.code
    assert rc in (1, 2)
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not calls and not (tmp_path / "merge-search.work").exists()


def test_search_subsets_of_three(write_checkpoint, tmp_path):
    dirs = [str(write_checkpoint(n, small_tensors(i))) for i, n in enumerate("abc")]
    labels = [c.label for c in search_mod.candidates(dirs)]
    assert labels == ["a", "b", "c", "multislerp a + b", "multislerp a + c", "multislerp b + c", "multislerp a + b + c"]
    seen = []
    result = search_mod.merge_search(dirs, lambda p: seen.append(p) or {"main_score": len(seen) / 10},
                                     tmp_path / "work")
    assert result.best.candidate.label == "multislerp a + b + c" and len(result.rows) == 7


def test_search_refuses_a_single_checkpoint_before_writing(tmp_path):
    with pytest.raises(ValueError, match="at least 2 checkpoints"):
        search_mod.merge_search([str(tmp_path)], lambda p: {}, tmp_path / "work")
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_cli_search_with_the_real_sts_evaluator(minilm_dir, tmp_path, capsys):
    from merge_helpers import tiny_bert

    a, b = tiny_bert(minilm_dir, tmp_path / "a", 0), tiny_bert(minilm_dir, tmp_path / "b", 1)
    csv = tmp_path / "sts.csv"
    csv.write_text("A man plays guitar.,A man plays a guitar.,4.8\nA dog runs.,A cat sleeps.,0.5\n"
                   "Kids play football.,Children play soccer.,4.2\nThe sun is hot.,Stocks fell today.,0.1\n"
                   "She reads a book.,A woman is reading.,3.9\n")
    rc = main(["merge", "search", "--checkpoints", str(a), str(b), "--task", "sts", "--data", str(csv),
               "--grid", "0.5", "--work-dir", str(tmp_path / "work"), "--keep"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("\n| ") == 3 and "slerp t=0.5" in out and "best: " in out
    assert (tmp_path / "work" / "02-slerp-t0.5" / "model.safetensors").exists()
