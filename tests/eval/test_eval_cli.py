"""``q3embed eval`` and ``q3embed eval report`` through the CLI entry point."""

from __future__ import annotations

import json

from q3embed.cli import main


def _json_line(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_retrieval_then_report(tiny_embedding_dir, toy_beir, tmp_path, capsys):
    res_file = tmp_path / "res" / "toy.json"
    rc = main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(toy_beir),
               "--cache-dir", str(tmp_path / "cache"), "--output", str(res_file)])
    assert rc == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.strip().splitlines()[-1])
    assert line["main_score"] == line["ndcg_at_10"] and line["task"] == "retrieval"
    assert "1 queries not in this split (skipped)" in captured.err  # q9 has no test qrels: counted, printed
    assert json.loads(res_file.read_text())["main_score"] == line["main_score"]
    assert list((tmp_path / "cache").rglob("shard-*.npz"))

    rc = main(["eval", "report", str(res_file), "--output", str(tmp_path / "report.md")])
    table = capsys.readouterr().out
    assert rc == 0 and "| Model | toy | Retrieval mean |" in table
    assert (tmp_path / "report.md").read_text().strip() == table.strip()


def test_rerank_and_sweep(tiny_embedding_dir, tiny_reranker_dir, toy_beir, tmp_path, capsys):
    rc = main(["eval", "--model", str(tiny_embedding_dir), "--task", "rerank", "--data", str(toy_beir),
               "--reranker", str(tiny_reranker_dir), "--no-cache", "--output", str(tmp_path / "rr.json")])
    line = _json_line(capsys)
    assert rc == 0 and {"ndcg_at_10_before", "ndcg_at_10_after"} <= set(line)

    out = tmp_path / "sweep.json"
    rc = main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(toy_beir),
               "--dims", "32,48,full", "--no-cache", "--output", str(out)])
    line = _json_line(capsys)
    assert rc == 0 and line["dims"] == [32, 48, 64] and len(line["scores"]) == 3
    assert out.with_suffix(".png").stat().st_size > 0 and "| 48 |" in out.with_suffix(".md").read_text()


def test_user_errors_exit_1_with_one_line(tiny_embedding_dir, toy_beir, tmp_path, capsys):
    assert main(["eval", "--model", str(tiny_embedding_dir), "--task", "bitext", "--data", "only-one.txt"]) == 1
    assert "takes SRC.txt TGT.txt" in capsys.readouterr().err
    assert main(["eval", "--task", "sts", "--data", "x.csv"]) == 1
    assert "--model is required" in capsys.readouterr().err
    with open(toy_beir / "qrels" / "test.tsv", "a") as f:
        f.write("q1\tmissing-doc\t1\n")
    assert main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(toy_beir),
                 "--no-cache", "--output", str(tmp_path / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "test.tsv:6: corpus id 'missing-doc'" in err and len(err.strip().splitlines()) == 1


def test_retrieval_scores_a_store_in_each_search_mode(tiny_embedding_dir, toy_beir, tmp_path, capsys):
    """The figure published is the search shipped: --store with --mode dense, lexical or hybrid."""
    idx = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(toy_beir / "corpus.jsonl"),
                 "--out", str(idx)]) == 0
    scores = {}
    for mode in ("dense", "lexical", "hybrid"):
        rc = main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(toy_beir),
                   "--store", str(idx), "--mode", mode, "--no-cache", "--output", str(tmp_path / f"{mode}.json")])
        line = _json_line(capsys)
        assert rc == 0 and line["search_mode"] == mode and line["search_method"] == "exact"
        assert (line["fusion"] is not None) == (mode == "hybrid")
        scores[mode] = line["main_score"]
    assert line["fusion"] == {"method": "rrf", "k": 60, "dense_weight": 0.5, "depth": 100}
    assert main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(toy_beir),
                 "--mode", "lexical", "--no-cache", "--output", str(tmp_path / "x.json")]) == 1
    assert "add --store" in capsys.readouterr().err
