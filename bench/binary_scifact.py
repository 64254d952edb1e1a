"""Binary vectors on SciFact: nDCG@10 of dense exact, binary without rescoring and binary + rescoring,
through the embedded Index, on the test and train query splits (all-MiniLM-L6-v2, 384 dims).

Rows (each split): dense exact (float32); binary first pass alone (Hamming order, no rescoring);
binary + rescoring with the float32 and the int8 vectors at the default oversampling (4); the
oversampling sweep; and an MRL row (bits of the first 256 dims, rescoring at 384). The oversampling
default is checked on the TRAIN split (809 queries); the test split only reports.

Embeddings are computed once and cached in --work (corpus and queries, .npy), so a rerun costs the
searches only. With --stores the same binary search also runs on pgvector (pgserver's PostgreSQL) and
Qdrant (local mode), and the rows say how far they agree with the embedded index.

    python -m bench.binary_scifact --data DATA --work WORK [--stores] [--save]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bench import harness

SWEEP = (1, 2, 3, 4, 5, 8, 10)


def embed_cached(work: Path, name: str, texts: list[str], encode) -> np.ndarray:
    path = work / f"{name}.npy"
    if path.exists():
        cached = np.load(path)
        if len(cached) == len(texts):
            return cached
    vectors = np.asarray(encode(texts), dtype=np.float32)
    np.save(path, vectors)
    return vectors


def ndcg(run: dict, qrels: dict) -> float:
    from q3embed.eval.metrics import retrieval_metrics

    return 100 * retrieval_metrics(run, qrels, k_values=(10,))["ndcg_at_10"]


def as_run(qids: list[str], results) -> dict:
    return {q: {h.id: h.score for h in hits} for q, hits in zip(qids, results)}


def build(work: Path, emb, doc_ids, texts, vectors, dtype: str, binary_dim: int):
    from q3embed.stores import Index

    root = work / f"index-{dtype}-b{binary_dim}"
    try:
        idx = Index.open(root)
        if len(idx) == len(doc_ids):
            return idx
    except FileNotFoundError:
        pass
    idx = Index.create(root, emb, dtype=dtype, binary_dim=binary_dim, overwrite=True)
    idx.add_vectors(doc_ids, vectors, texts)
    return idx


def main(argv=None) -> int:
    p = harness.parser("binary_scifact", __doc__)
    p.add_argument("--model", default="minilm", help="embedding model (default all-MiniLM-L6-v2)")
    p.add_argument("--splits", nargs="+", default=["test", "train"])
    p.add_argument("--stores", action="store_true", help="also run binary search on pgvector and Qdrant (local)")
    args = harness.setup(p.parse_args(argv))
    data = harness.data_path(args, "scifact")

    from q3embed import Embedder
    from q3embed.eval.beir import load_beir
    from q3embed.stores.binary import BinaryConfig

    emb = Embedder.load(args.model, device="cpu", dtype="float32")
    corpus, _, _ = load_beir(data, args.splits[0])
    doc_ids, texts = list(corpus), list(corpus.values())
    docs = embed_cached(args.work, f"corpus-{Path(args.model).name}", texts,
                        lambda t: emb.encode_documents(t, batch_size=64, show_progress=True))
    dim = docs.shape[1]
    f32 = build(args.work, emb, doc_ids, texts, docs, "float32", dim)
    i8 = build(args.work, emb, doc_ids, texts, docs, "int8", dim)
    mrl = build(args.work, emb, doc_ids, texts, docs, "float32", 256) if dim > 256 else None
    rows = []
    for split in args.splits:
        _, queries, qrels = load_beir(data, split)
        qids = list(queries)
        qv = embed_cached(args.work, f"queries-{split}-{Path(args.model).name}", [queries[q] for q in qids],
                          lambda t: emb.encode_queries(t, batch_size=64))
        exact = ndcg(as_run(qids, f32.search(qv, top_k=10)), qrels)

        def row(name, idx, bits, split=split, qids=qids, qv=qv, qrels=qrels, exact=exact, **kw):
            score = ndcg(as_run(qids, idx.search(qv, top_k=10, **kw)), qrels)
            first_pass = f"{bits // 8} B ({bits // 8 / (4 * dim):.4g} of fp32)" if bits else f"{4 * dim} B (fp32)"
            rows.append({"split": split, "queries": len(qids), "row": name, "ndcg@10": round(score, 2),
                         "vs dense exact": f"{100 * score / exact:.1f}%", "first-pass bytes/vector": first_pass})
            print(rows[-1], flush=True)

        row("dense exact (float32)", f32, 0)
        row(f"binary {dim} bits, no rescoring", f32, dim, method="binary", tuning=BinaryConfig(rescore=False))
        row(f"binary {dim} bits + float32 rescoring (oversample 4)", f32, dim, method="binary")
        row(f"binary {dim} bits + int8 rescoring (oversample 4)", i8, dim, method="binary")
        if mrl is not None:
            row(f"binary 256 bits (MRL prefix) + float32 rescoring at {dim} (oversample 4)", mrl, 256, method="binary")
        for k in SWEEP:
            row(f"sweep: binary {dim} bits + float32 rescoring, oversample {k}", f32, dim, method="binary",
                tuning=BinaryConfig(oversample=k))
        if args.stores:
            rows.extend(store_rows(args, emb, doc_ids, texts, docs, qids, qv, qrels, split, exact, f32))
    print()
    print(harness.markdown_table(rows))
    harness.finish(args, {"model": args.model, "dim": dim, "documents": len(doc_ids)}, dtype="float32", rows=rows,
                   argv=argv if argv is not None else sys.argv[1:])
    return 0


def store_rows(args, emb, doc_ids, texts, docs, qids, qv, qrels, split, exact, f32) -> list[dict]:
    """Binary + rescoring on pgvector and Qdrant local mode, against the embedded index's ranking."""
    import tempfile
    import warnings

    from q3embed.stores.binary import BinaryConfig
    from q3embed.stores.pgvector import PgVectorStore
    from q3embed.stores.qdrant import QdrantStore

    out = []
    ref = f32.search(qv, top_k=10, method="binary")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
        from qdrant_client import QdrantClient

        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="q3embed-bench-pg-")), cleanup_mode="delete")
    try:
        records = [{"id": d, "text": t} for d, t in zip(doc_ids, texts)]
        stores = {"pgvector": PgVectorStore.create(f"{server.get_uri()}&collection=scifact_binary", emb,
                                                   binary_dim=docs.shape[1], overwrite=True),
                  "qdrant (local mode)": QdrantStore.create(QdrantClient(":memory:"), "scifact", emb,
                                                            binary_dim=docs.shape[1])}
        for name, store in stores.items():
            for a in range(0, len(records), 2048):
                store.add_records(records[a: a + 2048], docs[a: a + 2048])
            got = store.search(qv, top_k=10, method="binary", tuning=BinaryConfig())
            same = np.mean([[h.id for h in x] == [h.id for h in y] for x, y in zip(got, ref)])
            overlap = np.mean([len({h.id for h in x} & {h.id for h in y}) / 10 for x, y in zip(got, ref)])
            score = ndcg(as_run(qids, got), qrels)
            out.append({"split": split, "queries": len(qids), "row": f"{name}: binary + rescoring (oversample 4)",
                        "ndcg@10": round(score, 2), "vs dense exact": f"{100 * score / exact:.1f}%",
                        "first-pass bytes/vector": f"same top-10 as the index: {same:.3f} of queries; "
                                                   f"overlap {overlap:.3f}"})
            print(out[-1], flush=True)
            store.close()
    finally:
        server.cleanup()
    return out


if __name__ == "__main__":
    sys.exit(main())
