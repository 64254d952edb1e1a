"""Evaluation data for tests: where CI keeps ../shared/data, a BEIR folder writer, a SciFact subsample."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _find_shared_data() -> Path:
    """CI keeps the data at ../shared/data. A git worktree or a clone one level deeper finds the same
    folder further up; a clone elsewhere on the project's machines finds /work/shared/data;
    Q3EMBED_TEST_DATA overrides. Nothing found: the first place, so the tests fail naming it."""
    override = os.environ.get("Q3EMBED_TEST_DATA")
    candidates = ([Path(override)] if override else []) + [p / "shared" / "data" for p in REPO.parents]
    candidates.append(Path("/work/shared/data"))
    return next((p for p in candidates if p.is_dir()), Path(override) if override else REPO.parent / "shared" / "data")


SHARED_DATA = _find_shared_data()


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
