"""Evaluation data for tests: the small sets shipped in tests/data_files, the one place full sets are
read from, a BEIR folder writer and a SciFact subsample.

Full sets (SciFact's 5,183 abstracts, STSBenchmark's splits) are not in the repository. Tests that need
them read ``$Q3EMBED_DATA`` when it is set, else ``data/`` at the repository root, the folder that
``q3embed data fetch scifact stsb`` fills. Without the data they skip and say how to fetch it; under CI
(``CI`` set, as ``.ci/run`` does) they fail instead, so a CI run never passes with the checks skipped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = Path(__file__).resolve().parent / "data_files"
#: STSBenchmark test split in full (1,379 pairs; CSV sentence1,sentence2,score).
STSB_TEST = SHIPPED / "stsb-en-test.csv"
#: SciFact: the first 40 test queries (qrels order), their 44 relevant abstracts and the first 60 others,
#: i.e. ``scifact_subsample(full, out, **SCIFACT_SUBSAMPLE)`` of the full set.
SCIFACT_SUBSAMPLE_DIR = SHIPPED / "scifact-subsample"
SCIFACT_SUBSAMPLE = {"n_queries": 40, "n_distractors": 60}
FETCH_COMMAND = "q3embed data fetch scifact stsb"


def data_root() -> Path:
    """``$Q3EMBED_DATA`` when set (it must name a folder), else ``data/`` at the repository root."""
    named = os.environ.get("Q3EMBED_DATA")
    if named:
        if not Path(named).is_dir():
            # A typo must not quietly turn the full-data checks into skips.
            pytest.fail(f"Q3EMBED_DATA={named} is not a folder: set it to the folder holding scifact/ and stsb/, "
                        f"or unset it to read {REPO / 'data'}", pytrace=False)
        return Path(named).resolve()
    return REPO / "data"


def full_data(*parts: str) -> Path:
    """A full evaluation set under :func:`data_root`: skips when it is missing, fails when ``CI`` is set."""
    path = data_root().joinpath(*parts)
    if path.exists():
        return path.resolve()
    why = (f"{path} is missing: full evaluation data is read from $Q3EMBED_DATA or data/; "
           f"fetch it with `{FETCH_COMMAND}` (or set Q3EMBED_DATA to a folder holding scifact/ and stsb/)")
    if os.environ.get("CI"):
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


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


def scifact_subsample(scifact_dir: Path, out: Path, n_queries: int, n_distractors: int, text_chars=None) -> Path:
    """The first ``n_queries`` SciFact test queries (qrels order), their relevant abstracts, and the
    first ``n_distractors`` other abstracts (corpus order); texts cut to ``text_chars`` when given."""
    rows = [line.rstrip("\n").split("\t") for line in open(scifact_dir / "qrels" / "test.tsv")][1:]
    qids = list(dict.fromkeys(r[0] for r in rows))[:n_queries]
    qrels = [(q, d, int(s)) for q, d, s in rows if q in qids]
    docs = [json.loads(line) for line in open(scifact_dir / "corpus.jsonl")]
    wanted = {d for _, d, _ in qrels}
    keep = [d for d in docs if d["_id"] in wanted] + [d for d in docs if d["_id"] not in wanted][:n_distractors]
    corpus = {d["_id"]: (d["title"], d["text"][:text_chars]) for d in keep}
    queries = {}
    for line in open(scifact_dir / "queries.jsonl"):
        q = json.loads(line)
        if q["_id"] in qids:
            queries[q["_id"]] = q["text"]
    return write_beir(out, corpus, queries, qrels)
