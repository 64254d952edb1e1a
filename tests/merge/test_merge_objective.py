"""``merge search`` on a validation objective: carved train queries + STS dev, never test queries."""

from __future__ import annotations

import json

import pytest

from q3embed.cli import main
from q3embed.merge.objective import carve_validation, weighted_objective


def _beir(root, n_queries=10):
    (root / "qrels").mkdir(parents=True)
    docs = [f"Document {i} is about topic {i} and its measurements." for i in range(n_queries)]
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                                               for i, t in enumerate(docs)))
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": f"topic {i}"}) + "\n"
                                                for i in range(n_queries)))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                              + "".join(f"q{i}\td{i}\t1\n" for i in range(n_queries)))
    return root


def _qids(path):
    return {ln.split("\t")[0] for ln in path.read_text().splitlines()[1:]}


def test_carve_splits_train_queries_disjointly_and_reproducibly(tmp_path):
    data = _beir(tmp_path / "data")
    fit, val = carve_validation(data, tmp_path / "v", "train", 0.3, seed=1)
    assert (fit, val) == ("train-fit", "train-val")
    f, v = _qids(tmp_path / "v/qrels/train-fit.tsv"), _qids(tmp_path / "v/qrels/train-val.tsv")
    assert len(v) == 3 and len(f) == 7 and not f & v and f | v == {f"q{i}" for i in range(10)}
    assert (tmp_path / "v/corpus.jsonl").resolve() == (data / "corpus.jsonl").resolve()
    carve_validation(data, tmp_path / "v", "train", 0.3, seed=1)
    assert _qids(tmp_path / "v/qrels/train-val.tsv") == v
    carve_validation(data, tmp_path / "w", "train", 0.3, seed=2)
    assert _qids(tmp_path / "w/qrels/train-val.tsv") != v
    with pytest.raises(ValueError, match="not 'test'"):
        carve_validation(data, tmp_path / "x", "test")


def test_weighted_objective_sums_the_parts():
    ev = weighted_objective({"a": (0.25, lambda p: {"main_score": 0.8}), "b": (0.75, lambda p: {"main_score": 0.4})})
    assert ev("x") == pytest.approx({"a": 0.8, "b": 0.4, "main_score": 0.5})
    with pytest.raises(ValueError, match="weights"):
        weighted_objective({"a": (0.0, lambda p: {})})


def test_cli_search_chooses_on_the_validation_objective(tiny_embedding_dir, qwen3_tokenizer_dir, tmp_path, capsys):
    from q3embed.model.tiny import save_tiny_qwen3

    b = save_tiny_qwen3(tmp_path / "b", kind="embedding", seed=1, tokenizer_dir=qwen3_tokenizer_dir)
    data = _beir(tmp_path / "data")  # no test qrels at all: nothing can read test queries
    dev = tmp_path / "sts-dev.csv"
    dev.write_text("A man plays guitar.,A man plays a guitar.,4.8\nA dog runs.,A cat sleeps.,0.5\n"
                   "Kids play football.,Children play soccer.,4.2\nThe sun is hot.,Stocks fell today.,0.1\n")
    work = tmp_path / "work"
    rc = main(["merge", "search", "--checkpoints", str(tiny_embedding_dir), str(b), "--val-data", str(data),
               "--sts-dev", str(dev), "--sts-weight", "0.5", "--grid", "0.5", "--work-dir", str(work),
               "--keep", "--report", str(tmp_path / "t.md"), "--device", "cpu", "--dtype", "float32",
               "--val-corpus-docs", "3"])
    assert rc == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| candidate")]
    assert len(rows) == 3 and "val_ndcg_at_10" in out and "sts_dev" in out
    parsed = [[float(c) for c in ln.split("|")[2:5]] for ln in rows]  # main, val, sts (x100)
    for main_score, val, sts in parsed:
        assert main_score == pytest.approx(0.5 * val + 0.5 * sts, abs=0.011)
    best = max(range(3), key=lambda i: parsed[i][0])
    assert "**(best)**" in rows[best]
    assert len(_qids(work / "val-data/qrels/train-val.tsv")) == 2
    assert (work / "val-data/corpus.jsonl").read_text().count("\n") == 2 + 3  # val positives + 3 others


def test_cli_validation_mode_errors_are_one_line(tmp_path, capsys):
    data = _beir(tmp_path / "data")
    base = ["merge", "search", "--checkpoints", "a", "b", "--work-dir", str(tmp_path / "w")]
    for extra, message in [([], "needs --task and --data, or --val-data"),
                           (["--val-data", str(data)], "needs --sts-dev"),
                           (["--val-data", str(data), "--sts-dev", "stsb-en-test.csv"], "looks like a test set"),
                           (["--val-data", str(data), "--val-from", "test", "--sts-weight", "0"], "not 'test'"),
                           (["--val-data", str(data), "--sts-weight", "0", "--val-negatives", "m.jsonl"],
                            "give --val-corpus-docs")]:
        assert main([*base, *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_carve_with_corpus_docs_writes_a_small_hard_validation_corpus(tmp_path):
    data = _beir(tmp_path / "data", n_queries=20)
    fit, val = carve_validation(data, tmp_path / "v", "train", 0.2, seed=3)
    val_q = _qids(tmp_path / "v/qrels/train-val.tsv")
    mined = tmp_path / "mined.jsonl"  # a mine JSONL: texts, not ids; one row for a val query, one for a fit query
    docs = {f"d{i}": f"Document {i} is about topic {i} and its measurements." for i in range(20)}
    qv, qf = sorted(val_q)[0], sorted(_qids(tmp_path / "v/qrels/train-fit.tsv"))[0]
    neg_v, neg_f = [d for d in docs if d != "d" + qv[1:] and d != "d" + qf[1:]][:2]
    mined.write_text(json.dumps({"query": f"topic {qv[1:]}", "pos": [docs["d" + qv[1:]]], "neg": [docs[neg_v]]}) + "\n"
                     + json.dumps({"query": f"topic {qf[1:]}", "pos": [docs["d" + qf[1:]]], "neg": [docs[neg_f]]}) + "\n")
    assert carve_validation(data, tmp_path / "v", "train", 0.2, seed=3, corpus_docs=2, negatives=mined) == (fit, val)
    corpus = tmp_path / "v/corpus.jsonl"
    assert not corpus.is_symlink() and (data / "corpus.jsonl").read_text().count("\n") == 20  # source untouched
    kept = {json.loads(ln)["_id"] for ln in corpus.read_text().splitlines()}
    assert {"d" + q[1:] for q in val_q} <= kept and neg_v in kept  # val positives and their negatives
    assert len(kept) == len({"d" + q[1:] for q in val_q} | {neg_v}) + 2  # plus corpus_docs=2 seeded others
    assert _qids(tmp_path / "v/qrels/train-val.tsv") == val_q  # the same split rule, sub-corpus or not
    carve_validation(data, tmp_path / "v", "train", 0.2, seed=3)  # without corpus_docs: the full corpus again
    assert corpus.is_symlink() and corpus.resolve() == (data / "corpus.jsonl").resolve()
    with pytest.raises(ValueError, match="corpus_docs"):
        carve_validation(data, tmp_path / "w", "train", 0.2, negatives=mined)
