"""`q3embed index build|add|delete|info`, `q3embed search` and `q3embed demo`, through cli.main."""

import json

import pytest

from q3embed.cli import main


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"Doc {i}", "text": t}) + "\n" for i, t in enumerate(
        ["Paris is the capital of France.", "Rain falls from clouds.", "The Moon orbits the Earth.",
         "Yeast makes bread rise.", "Mitochondria produce energy."])))
    return p


@pytest.fixture
def built_idx(tmp_path, corpus, tiny_embedding_dir):
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--out", str(out),
                 "--storage-dtype", "int8", "--dim", "32"]) == 0
    return out


def test_build_search_add_delete_info(built_idx, tmp_path, tiny_embedding_dir, tiny_reranker_dir, capsys):
    capsys.readouterr()
    assert main(["index", "info", str(built_idx), "--verify", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 5 and info["spec"]["dtype"] == "int8" and info["spec"]["dim"] == 32
    assert info["spec"]["model"] == str(tiny_embedding_dir)

    assert main(["search", str(built_idx), "capital of France", "--top-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "capital of France" and len(out["hits"]) == 3
    assert {"id", "score"} <= set(out["hits"][0])

    assert main(["search", str(built_idx), "bread", "--top-k", "2", "--reranker", str(tiny_reranker_dir),
                 "--rerank-top", "4", "--method", "hnsw"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("query: bread") and text.count(" rerank ") == 2

    assert main(["search", str(built_idx), "capital of France", "--top-k", "3", "--mode", "hybrid", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["id"] == "d0" and hits[0]["stages"] == ["dense", "lexical"] and all(h["stages"] for h in hits)
    assert main(["search", str(built_idx), "Yeast bread", "--mode", "lexical"]) == 0
    out = capsys.readouterr().out
    assert "1. d3  score " in out and "[lexical]" in out  # the first stage that found it
    assert main(["search", str(built_idx), "bread", "--mode", "hybrid", "--rrf-k", "0"]) == 1
    assert "--rrf-k must be >= 1, got 0" in capsys.readouterr().err
    # a flag that the chosen mode would ignore is refused, not silently dropped
    assert main(["search", str(built_idx), "bread", "--mode", "dense", "--fusion", "weighted"]) == 1
    assert "--fusion only apply to --mode hybrid (got --mode dense)" in capsys.readouterr().err
    assert main(["search", str(built_idx), "bread", "--mode", "hybrid", "--dense-weight", "0.3"]) == 1
    assert "--dense-weight only applies to --fusion weighted" in capsys.readouterr().err
    assert main(["search", str(built_idx), "bread", "--mode", "lexical", "--method", "hnsw"]) == 1
    assert "--method hnsw is how the dense stage searches" in capsys.readouterr().err
    assert main(["search", str(built_idx), "bread", "--mode", "hybrid", "--fusion", "weighted",
                 "--dense-weight", "0.3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"]

    more = tmp_path / "more.jsonl"
    more.write_text('{"id": "d0", "text": "Paris again"}\n{"id": "n1", "text": "new"}\n')
    assert main(["index", "add", str(built_idx), str(more)]) == 1
    assert "already holds 1 of these document ids ('d0')" in capsys.readouterr().err
    assert main(["index", "add", str(built_idx), str(more), "--replace"]) == 0
    assert main(["index", "delete", str(built_idx), "d1", "d2"]) == 0
    assert main(["index", "delete", str(built_idx), "zzz"]) == 1
    assert "no document with id 'zzz'" in capsys.readouterr().err
    assert main(["index", "info", str(built_idx), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 4


def test_bad_inputs_name_path_and_line(tmp_path, tiny_embedding_dir, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": \n')
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(bad), "--out",
                 str(tmp_path / "o")]) == 1
    assert f"{bad}:2: invalid JSON" in capsys.readouterr().err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(empty), "--out",
                 str(tmp_path / "o")]) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "missing.idx"), "q"]) == 1
    err = capsys.readouterr().err
    assert "no index at" in err and "missing.idx" in err


def test_search_with_another_model_is_refused(built_idx, minilm_dir, capsys):
    assert main(["search", str(built_idx), "q", "--model", str(minilm_dir)]) == 1
    assert "was built with model" in capsys.readouterr().err


def test_help_for_every_subverb(capsys):
    for argv in (["index", "--help"], ["index", "build", "--help"], ["search", "--help"], ["demo", "--help"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 0
    assert "Qwen/Qwen3-Reranker-0.6B" in capsys.readouterr().out


def test_demo_runs_offline(tmp_path, minilm_dir, capsys):
    out = tmp_path / "demo.idx"
    assert main(["demo", "--out", str(out), "--top-k", "2"]) == 0
    text = capsys.readouterr().out
    blocks = {b.splitlines()[0]: b.splitlines()[1:] for b in text.strip().split("\n\n")}
    assert blocks["query: why is the sky blue during the day?"][0].split()[1] == "astro-01"
    assert blocks["query: who deciphered Egyptian hieroglyphs"][0].split()[1] == "hist-04"
    assert (out / "manifest.json").exists()
