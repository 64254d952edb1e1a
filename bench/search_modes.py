"""Search on SciFact: the dense methods (exact, HNSW, IVF, MRL funnel) of the embedded index, and with
``--table`` the search modes (dense, lexical, hybrid) of all three stores on the test and train splits.

Builds the index once (all-MiniLM-L6-v2, no chunking: MTEB's 256-token truncation), then for each
mode reports recall@10 against exact search, nDCG@10, queries/s (batched and one at a time) as a
ratio to exact, and index size. Storage dtypes float16 and int8 are measured from the same vectors.
Writes a PNG of nDCG@10 against the funnel's first-pass dim.

    python -m bench.search_modes [--data DATA] [--work WORK] [--scale N] [--save]

The index is kept in WORK (reused if present); the JSON and the PNG go to WORK, and with ``--save``
to bench/results/index_search_modes.json and bench/results/index_funnel.png.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench import harness


def main() -> None:
    ap = harness.parser("search_modes", __doc__)
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--plot", default=None, help="PNG of nDCG@10 against the funnel's first-pass dim")
    ap.add_argument("--json", default=None, help="every figure as JSON")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats (best of)")
    ap.add_argument("--scale", type=int, default=0,
                    help="also time one-query latency on N synthetic rows (SciFact vectors + noise), e.g. 200000")
    ap.add_argument("--table", action="store_true",
                    help="instead: the SciFact table of search modes (dense, lexical, hybrid) in every store, per split "
                         "(bench/scifact_modes.py)")
    ap.add_argument("--splits", default="test,train", help="--table: SciFact query splits (default test,train)")
    ap.add_argument("--stores", default="index,pgvector,qdrant", help="--table: stores to fill and search")
    ap.add_argument("--reranker", default=None,
                    help="--table: also time hybrid + this reranker over the fused top 100 (e.g. `q3embed tiny` output)")
    ap.add_argument("--modes", default="dense,lexical,hybrid,hybrid-weighted", help="--table: rows to measure")
    ap.add_argument("--no-latency", dest="latency", action="store_false",
                    help="--table: skip the one-query latency rows")
    ap.add_argument("--no-fts", dest="fts", action="store_false",
                    help="--table: skip PostgreSQL's ts_rank_cd row")
    args = ap.parse_args()
    harness.setup(args)
    if args.table:
        from bench import scifact_modes

        scifact_modes.table(args)
        return  # --threads: BLAS/faiss threads during the timings (1: steady on a shared machine)
    out_dir = harness.RESULTS if args.save else args.work
    args.plot = args.plot or str(out_dir / "index_funnel.png")
    args.json = args.json or str(out_dir / "index_search_modes.json")
    scifact = harness.data_path(args, "scifact")

    from q3embed import Embedder, Index
    from q3embed.eval.beir import load_beir
    from q3embed.stores import AnnConfig, FunnelConfig

    corpus, queries, qrels = load_beir(scifact, "test")
    emb = Embedder.load(args.model, device="cpu", dtype="float32")
    work = Path(args.work)
    t0 = time.perf_counter()
    try:
        index = Index.open(work / "float32", emb)
        print(f"reusing {index}")
    except FileNotFoundError:
        index = Index.build(work / "float32", list(corpus.items()), emb, show_progress=True, overwrite=True)
        print(f"built {index} in {time.perf_counter() - t0:.0f}s")
    qids = list(queries)
    qv = index.encode_queries([queries[q] for q in qids])  # (Q, dim) once, so modes compare search only

    results = {}
    import faiss
    from threadpoolctl import threadpool_limits

    faiss.omp_set_num_threads(args.threads)
    threadpool_limits(args.threads)

    def measure(name, idx, **kw):
        hits = _best_of(args.repeats, lambda: idx.search(qv, top_k=10, **kw))
        t_batch = hits[1]
        few = qv[:100]  # one query per call, as an interactive user sends them
        t_single = _best_of(args.repeats, lambda: [idx.search(v, top_k=10, **kw) for v in few])[1]
        run = {q: {h.id: h.score for h in hs} for q, hs in zip(qids, hits[0])}
        results[name] = {"run": run, "qps_batch": len(qv) / t_batch, "qps_single": len(few) / t_single}

    measure("exact", index)
    index.search(qv[:1], method="hnsw")  # build (or load) the ANN caches outside the timings
    index.search(qv[:1], method="ivf")
    measure("hnsw", index, method="hnsw", tuning=AnnConfig("hnsw"))
    measure("hnsw-ef128", index, method="hnsw", tuning=AnnConfig("hnsw", ef_search=128))
    measure("ivf", index, method="ivf", tuning=AnnConfig("ivf"))
    funnel_dims = [32, 48, 64, 96, 128, 192, 256]
    for d in funnel_dims:
        measure(f"funnel-{d}", index, method="funnel", tuning=FunnelConfig(dim=d, candidates=100))

    ids, vecs = index.vectors()
    doc_ids = [index.record(r)["id"] for r in ids]
    texts = [corpus[d] for d in doc_ids]
    for dtype in ("float16", "int8"):
        try:
            q_idx = Index.open(work / dtype, emb)
        except FileNotFoundError:
            q_idx = Index.create(work / dtype, emb, dtype=dtype, overwrite=True)
            q_idx.add_vectors(doc_ids, vecs, texts)
        measure(f"exact-{dtype}", q_idx)

    from q3embed.eval.metrics import retrieval_metrics

    exact_run = results["exact"]["run"]
    ann_dir = work / "float32" / "ann"
    sizes = {"exact": index.size_bytes()}
    for kind in ("hnsw", "ivf"):
        sizes[kind] = sizes["exact"] + sum(p.stat().st_size for p in ann_dir.glob(f"{kind}-*.faiss"))
    sizes["hnsw-ef128"] = sizes["hnsw"]
    for dtype in ("float16", "int8"):
        sizes[f"exact-{dtype}"] = Index.open(work / dtype).size_bytes()
    vector_bytes = {name: _vector_bytes(work / name.replace("exact-", "") if name.startswith("exact-") else work / "float32")
                    for name in results}

    rows = []
    for name, r in results.items():
        m = retrieval_metrics(r["run"], qrels, k_values=(10,))
        recall = np.mean([len(set(r["run"][q]) & set(exact_run[q])) / len(exact_run[q]) for q in qids])
        rows.append({"mode": name, "recall@10_vs_exact": float(recall), "ndcg@10": 100 * m["ndcg_at_10"],
                     "qps_batch": r["qps_batch"], "qps_single": r["qps_single"],
                     "speed_batch_vs_exact": r["qps_batch"] / results["exact"]["qps_batch"],
                     "speed_single_vs_exact": r["qps_single"] / results["exact"]["qps_single"],
                     "index_mb": sizes.get(name, sizes["exact"]) / 2**20, "vectors_mb": vector_bytes[name] / 2**20})
    _print_table(rows, len(corpus), len(qids))
    Path(args.json).write_text(json.dumps(rows, indent=1))
    _plot(rows, funnel_dims, index.spec.dim, args.plot, qv, vecs, doc_ids, qids, qrels)
    if args.scale:
        _scale(args, emb, vecs, qv)


def _scale(args, emb, vecs, qv):
    """Latency where it matters: N rows made of the SciFact vectors plus noise (recall is only indicative)."""
    from q3embed import Index
    from q3embed.stores import AnnConfig, FunnelConfig

    root = Path(args.work) / f"scale-{args.scale}"
    try:
        idx = Index.open(root)
    except FileNotFoundError:
        rng = np.random.default_rng(0)
        idx = Index.create(root, emb, overwrite=True)
        for a in range(0, args.scale, 50000):
            n = min(50000, args.scale - a)
            x = vecs[rng.integers(0, len(vecs), n)] + 0.05 * rng.standard_normal((n, vecs.shape[1])).astype(np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            idx.add_vectors([f"s{a + i}" for i in range(n)], x, [f"row {a + i}" for i in range(n)])
    few = qv[:50]
    modes = [("exact", {}), ("hnsw", {"method": "hnsw"}), ("ivf", {"method": "ivf"}),
             ("funnel-96", {"method": "funnel", "tuning": FunnelConfig(dim=96)}),
             ("funnel-128", {"method": "funnel", "tuning": FunnelConfig(dim=128)})]
    import faiss

    faiss.omp_set_num_threads(2)  # building the graph is not what is timed here
    t = time.perf_counter()
    idx.search(few[:1], method="hnsw", tuning=AnnConfig("hnsw"))
    print(f"HNSW build over {len(idx)} rows: {time.perf_counter() - t:.0f}s")
    idx.search(few[:1], method="ivf")
    faiss.omp_set_num_threads(args.threads)
    idx.search(few[:1], method="funnel", tuning=FunnelConfig(dim=96))
    idx.search(few[:1], method="funnel", tuning=FunnelConfig(dim=128))
    exact = None
    print(f"\n{len(idx)} synthetic rows, {len(few)} SciFact queries one at a time, {args.threads} thread(s)")
    print("| mode | ms per query (x exact) | recall@10 vs exact |")
    print("|---|---|---|")
    for name, kw in modes:
        hits, t = _best_of(args.repeats, lambda: [idx.search(v, top_k=10, **kw) for v in few])
        ms = 1000 * t / len(few)
        if exact is None:
            exact = (ms, hits)
        recall = np.mean([len({h.id for h in a} & {h.id for h in b}) / 10 for a, b in zip(hits, exact[1])])
        print(f"| {name} | {ms:.2f} ({exact[0] / ms:.1f}x faster) | {recall:.3f} |")


def _best_of(repeats, fn):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def _vector_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "segments").glob("*.npy"))


def _print_table(rows, n_docs, n_queries):
    print(f"\nSciFact test: {n_docs} documents, {n_queries} queries, top-10")
    print("| mode | recall@10 vs exact | nDCG@10 | q/s batched (x exact) | q/s one-by-one (x exact) | index MB (vectors MB) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['recall@10_vs_exact']:.4f} | {r['ndcg@10']:.2f} | {r['qps_batch']:.0f} "
              f"({r['speed_batch_vs_exact']:.2f}x) | {r['qps_single']:.0f} ({r['speed_single_vs_exact']:.2f}x) | "
              f"{r['index_mb']:.1f} ({r['vectors_mb']:.1f}) |")


def _plot(rows, funnel_dims, full_dim, path, qv, vecs, doc_ids, qids, qrels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from q3embed.eval.metrics import retrieval_metrics

    by_mode = {r["mode"]: r for r in rows}
    funnel = [by_mode[f"funnel-{d}"]["ndcg@10"] for d in funnel_dims]
    low_only = []  # the first pass alone: exact search on the MRL prefix, no rescore
    for d in funnel_dims:
        lq = qv[:, :d] / np.linalg.norm(qv[:, :d], axis=1, keepdims=True)
        ld = vecs[:, :d] / np.linalg.norm(vecs[:, :d], axis=1, keepdims=True)
        s = lq @ ld.T  # (Q, n)
        top = np.argsort(-s, axis=1)[:, :10]
        run = {q: {doc_ids[j]: float(s[i, j]) for j in top[i]} for i, q in enumerate(qids)}
        low_only.append(100 * retrieval_metrics(run, qrels, k_values=(10,))["ndcg_at_10"])
    print("low-dim only nDCG@10:", dict(zip(funnel_dims, [round(x, 2) for x in low_only])))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(funnel_dims, funnel, "o-", label="funnel: first pass at dim, rescore top-100 at full dim")
    ax.plot(funnel_dims, low_only, "s--", label="first pass alone (truncated vectors)")
    ax.axhline(by_mode["exact"]["ndcg@10"], color="k", lw=0.8, label=f"exact, full dim {full_dim}")
    ax.set_xlabel("first-pass dim")
    ax.set_ylabel("nDCG@10 (SciFact test)")
    ax.set_title("MRL funnel, all-MiniLM-L6-v2 (not MRL-trained)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
