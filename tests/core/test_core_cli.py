from __future__ import annotations

import json

import numpy as np
import pytest

from q3embed.cli import build_parser, main


def _verbs():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb")
    return sorted(sub.choices)


@pytest.mark.parametrize("verb", _verbs())
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert "usage: q3embed" in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "q3embed", "search", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "usage: q3embed search" in proc.stdout, proc.stderr[-500:]


def test_info(tiny_embedding_dir, capsys):
    assert main(["info", str(tiny_embedding_dir), "--json", "--device", "cpu"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["width"] == 64 and info["layers"] == 2 and info["device"] == "cpu" and info["dtype"] == "float32"
    assert "embedding" in info["kind"]


def test_embed_txt_and_jsonl(tmp_path, tiny_embedding_dir, tiny_embedder, capsys):
    txt = tmp_path / "in.txt"
    txt.write_text("first text\n\nsecond text\n")
    out = tmp_path / "out.npy"
    # row i is line i: a blank line is refused with its number, not silently dropped
    assert main(["embed", "--model", str(tiny_embedding_dir), "--device", "cpu", "--dim", "32", str(txt), str(out)]) == 1
    assert "line 2" in capsys.readouterr().err and not out.exists()
    txt.write_text("first text\nsecond text\n")
    assert main(["embed", "--model", str(tiny_embedding_dir), "--device", "cpu", "--dim", "32", str(txt), str(out)]) == 0
    vecs = np.load(out)
    np.testing.assert_allclose(vecs, tiny_embedder.encode(["first text", "second text"], dim=32), atol=1e-6)
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"text": "q one"}\n{"text": "q two"}\n')
    assert main(["embed", "--model", str(tiny_embedding_dir), "--instruction", "Find", str(jl), str(out)]) == 0
    np.testing.assert_allclose(np.load(out), tiny_embedder.encode(["q one", "q two"], instruction="Find"), atol=1e-6)


def test_embed_bad_file_reports_path_and_line(tmp_path, tiny_embedding_dir, capsys):
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"text": "ok"}\n{"text": 5}\n')
    assert main(["embed", "--model", str(tiny_embedding_dir), str(jl), str(tmp_path / "o.npy")]) == 1
    err = capsys.readouterr().err
    assert f"{jl}:2" in err
    assert main(["embed", "--model", str(tiny_embedding_dir), str(tmp_path / "missing.txt"), str(tmp_path / "o.npy")]) == 1
    assert "missing.txt" in capsys.readouterr().err


def test_embed_bad_dim_exits_nonzero(tmp_path, tiny_embedding_dir, capsys):
    txt = tmp_path / "in.txt"
    txt.write_text("a\n")
    assert main(["embed", "--model", str(tiny_embedding_dir), "--dim", "8", str(txt), str(tmp_path / "o.npy")]) == 1
    assert "32..64" in capsys.readouterr().err


def test_rerank_json(tmp_path, tiny_reranker_dir, tiny_reranker, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("Beijing is the capital.\nGravity pulls.\nCats purr.\n")
    assert main(["rerank", "--model", str(tiny_reranker_dir), "--query", "capital of China?", "--json", str(docs)]) == 0
    ranked = json.loads(capsys.readouterr().out)
    scores = tiny_reranker.score("capital of China?", ["Beijing is the capital.", "Gravity pulls.", "Cats purr."])
    assert [r["index"] for r in ranked] == list(np.argsort(-scores, kind="stable"))
    assert ranked[0]["score"] == pytest.approx(float(scores.max()), abs=1e-5)


def test_missing_model_exits_with_one_line(tmp_path, capsys):
    txt = tmp_path / "in.txt"
    txt.write_text("a\n")
    assert main(["embed", "--model", str(tmp_path / "no_model"), str(txt), str(tmp_path / "o.npy")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no_model" in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_embed_says_which_file_it_wrote(tmp_path, tiny_embedding_dir, capsys):
    txt = tmp_path / "x.txt"
    txt.write_text("a\nb\n")
    assert main(["embed", "--model", str(tiny_embedding_dir), str(txt), str(tmp_path / "vectors")]) == 0
    assert f"to {tmp_path / 'vectors.npy'}" in capsys.readouterr().err
    assert np.load(tmp_path / "vectors.npy").shape == (2, 64)


def test_rerank_top_n_prints_that_many(tmp_path, tiny_reranker_dir, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("a\nb\nc\nd\n")
    assert main(["rerank", "--model", str(tiny_reranker_dir), "--query", "q", "--top-n", "2", "--json", str(docs)]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_rerank_warns_when_the_query_leaves_little_room(tmp_path, tiny_reranker_dir, capsys):
    docs = tmp_path / "docs.txt"
    docs.write_text("a long document\nanother one\n")
    query = "word " * 20
    assert main(["rerank", "--model", str(tiny_reranker_dir), "--max-length", "128", "--query", query, str(docs)]) == 0
    err = capsys.readouterr().err
    assert "warning: the query leaves each document only" in err and "max length 128" in err


def test_info_prints_clean_values(tiny_embedding_dir, capsys):
    assert main(["info", str(tiny_embedding_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "[" not in out and "{" not in out and "\\n" not in out
    assert "query: Instruct:" in out


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("verb", _verbs())
def test_help_names_only_files_that_exist(verb, capsys):
    import re

    helps = []
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "verb").choices[verb]
    todo = [sub]
    while todo:  # the verb and its sub-verbs
        p = todo.pop()
        helps.append(p.format_help())
        for a in p._actions:
            if getattr(a, "choices", None) and isinstance(a.choices, dict):
                todo.extend(a.choices.values())
    for path in re.findall(r"recipes/[\w.-]+\.ya?ml", "\n".join(helps)):
        assert (REPO / path).exists(), f"`q3embed {verb} --help` names {path}, which does not exist"


def test_docs_name_no_development_machine_paths():
    """README, docs, recipes and src must work in a user's clone: no ../shared paths; and no file of the
    repository names an absolute path of the machines it was developed on."""
    import re
    import subprocess

    files = [REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "recipes").rglob("*"),
             *(REPO / "src").rglob("*.py")]
    bad = [str(f.relative_to(REPO)) for f in files if f.is_file() and "../shared" in f.read_text(errors="ignore")]
    assert not bad, f"../shared paths in {bad}"
    machine = re.compile(r"(?<![\w.])/(work|root)/")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [REPO / p for p in tracked.stdout.split("\0") if p]
    bad = [str(p.relative_to(REPO)) for p in paths if p.is_file() and p.suffix not in (".png", ".npy", ".safetensors")
           and machine.search(p.read_text(errors="ignore"))]
    assert not bad, f"absolute paths of the development machines (the /work or /root folders) in {bad}"
    assert "DESIGN.md" not in (REPO / "docs" / "train.md").read_text()
