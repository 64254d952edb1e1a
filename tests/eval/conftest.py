"""Small evaluation datasets: a hand-written toy BEIR folder, and subsets of ../shared/data."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

TOY_CORPUS = {
    "d1": ("Beijing", "Beijing is the capital of China."),
    "d2": ("Paris", "Paris is the capital and largest city of France."),
    "d3": ("", "Gravity pulls objects toward each other."),
    "d4": ("Photosynthesis", "Plants turn light, water and carbon dioxide into sugar."),
    "d5": ("Berlin", "Berlin is the capital of Germany."),
}
TOY_QUERIES = {"q1": "What is the capital of China?", "q2": "capital of France", "q3": "How do plants make food?",
               "q9": "an unjudged training query"}
TOY_QRELS = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d5", 0), ("q3", "d4", 1)]


def write_beir(root: Path, corpus: dict, queries: dict, qrels: list, split: str = "test") -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w") as f:
        for doc_id, (title, text) in corpus.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with open(root / "qrels" / f"{split}.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, d, s in qrels:
            f.write(f"{q}\t{d}\t{s}\n")
    return root


@pytest.fixture
def toy_beir(tmp_path) -> Path:
    return write_beir(tmp_path / "toy", TOY_CORPUS, TOY_QUERIES, TOY_QRELS)


def _need_shared(*parts) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path.resolve()


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return _need_shared("scifact")


@pytest.fixture(scope="session")
def stsb_test() -> Path:
    return _need_shared("stsb", "stsb-en-test.csv")


@pytest.fixture(scope="session")
def scifact_mini(tmp_path_factory, scifact_dir) -> Path:
    """12 SciFact test queries, their relevant abstracts and 28 others; texts cut to 300 chars for speed."""
    rows = [line.rstrip("\n").split("\t") for line in open(scifact_dir / "qrels" / "test.tsv")][1:]
    qids = list(dict.fromkeys(r[0] for r in rows))[:12]
    qrels = [(q, d, int(s)) for q, d, s in rows if q in qids]
    docs = [json.loads(line) for line in open(scifact_dir / "corpus.jsonl")]
    wanted = {d for _, d, _ in qrels}
    keep = [d for d in docs if d["_id"] in wanted] + [d for d in docs if d["_id"] not in wanted][:28]
    corpus = {d["_id"]: (d["title"], d["text"][:300]) for d in keep}
    queries = {}
    for line in open(scifact_dir / "queries.jsonl"):
        q = json.loads(line)
        if q["_id"] in qids:
            queries[q["_id"]] = q["text"]
    return write_beir(tmp_path_factory.mktemp("scifact_mini"), corpus, queries, qrels)


@pytest.fixture(scope="session")
def stsb_mini(tmp_path_factory, stsb_test) -> Path:
    """The first 40 STSBenchmark test pairs."""
    out = tmp_path_factory.mktemp("stsb_mini") / "stsb-mini.csv"
    with open(stsb_test, newline="") as f, open(out, "w", newline="") as g:
        w = csv.writer(g)
        for i, row in enumerate(csv.reader(f)):
            if i == 40:
                break
            w.writerow(row)
    return out
