"""SciFact nDCG@10 of the search modes (dense, lexical, hybrid) in the three stores, on the test and train splits.

The same all-MiniLM-L6-v2 vectors (embedded once, cached in WORK) go into the embedded index, PostgreSQL
(pgserver, in WORK) and Qdrant (local mode, in WORK); each store answers with its own dense search (exact),
its own BM25 and its own fusion (RRF k=60, depth 100 per first stage, the library defaults). The train
queries are a split nobody tuned on: the defaults come from the literature (see docs/search.md).
PostgreSQL's built-in full-text ranking (``ts_rank_cd`` over an English ``tsvector``) is scored too, beside
the store's BM25, to show what it is worth. Latency: one query at a time, in the embedded index.

    python -m bench.search_modes --table [--splits test,train] [--stores index,pgvector,qdrant] [--data DATA] [--work WORK] [--save]
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench import harness

TARGETS = {"test": {"lexical": 67.5, "hybrid": 71.0}, "train": {"hybrid": 70.5}}


def embed_cached(emb, texts: list[str], path: Path, query: bool) -> np.ndarray:
    """(n, dim) float32 vectors of ``texts``, read from ``path`` when it holds the same texts."""
    key = path.with_suffix(".json")
    if path.exists() and key.exists() and json.loads(key.read_text()) == {"n": len(texts), "first": texts[0][:200]}:
        return np.load(path)
    t = time.perf_counter()
    if query:
        v = emb.encode_queries(texts, batch_size=32)
    else:
        v = emb.encode_documents(texts, batch_size=32, show_progress=True)
    v = np.asarray(v, np.float32)
    np.save(path, v)
    key.write_text(json.dumps({"n": len(texts), "first": texts[0][:200]}))
    print(f"embedded {len(texts)} {'queries' if query else 'documents'} in {time.perf_counter() - t:.0f}s")
    return v


def open_stores(names, work: Path, emb, ids, texts, vectors):
    """{name: store} holding the corpus, built once per WORK (a finished build is reused)."""
    from q3embed.stores import Index

    records = [{"id": i, "chunk": 0, "n_chunks": 1, "start": 0, "end": len(t), "text": t} for i, t in zip(ids, texts)]
    stores, closers = {}, []
    if "index" in names:
        try:
            stores["index"] = Index.open(work / "modes-index", emb)
        except FileNotFoundError:
            idx = Index.create(work / "modes-index", emb, overwrite=True)
            idx.add_records(records, vectors)
            stores["index"] = idx
    if "pgvector" in names:
        import warnings

        import pgserver

        from q3embed.stores.pgvector import PgVectorStore

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(work / "pg", cleanup_mode="stop")
        closers.append(server.cleanup)
        uri = server.get_uri()
        url = f"{uri}{'&' if '?' in uri else '?'}collection=scifact"
        try:
            store = PgVectorStore.open(url, emb)
            if store.count() != len(ids):
                raise FileNotFoundError
        except FileNotFoundError:
            store = PgVectorStore.create(url, emb, overwrite=True)
            for a in range(0, len(records), 2048):
                store.add_records(records[a: a + 2048], vectors[a: a + 2048])
        stores["pgvector"] = store
    if "qdrant" in names:
        from q3embed.stores.qdrant import create_qdrant, open_qdrant

        url = f"qdrant://{(work / 'qdrant').resolve()}?collection=scifact"
        try:
            store = open_qdrant(url, emb)
            if store.count() != len(ids):
                raise FileNotFoundError
        except FileNotFoundError:
            try:
                store.close()
            except NameError:
                pass
            store = create_qdrant(url, emb, overwrite=True)
            store.add_records(records, vectors)  # one write: avgdl is the whole corpus's
        stores["qdrant"] = store
    return stores, closers


def fts_run(store, queries: dict[str, str], top_k: int = 10) -> dict:
    """PostgreSQL full-text search over the same chunks: English tsvector, GIN, ts_rank_cd (not BM25)."""
    table = store._table
    conn = store.conn
    conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS fts tsvector "
                 "GENERATED ALWAYS AS (to_tsvector('english', text)) STORED")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_fts ON {table} USING gin (fts)")
    run = {}
    for q, text in queries.items():
        # OR of the query's words: plainto_tsquery would AND them and match almost nothing
        rows = conn.execute(
            f"SELECT doc_id, ts_rank_cd(fts, query) AS r FROM {table}, "
            "to_tsquery('english', array_to_string(tsvector_to_array(to_tsvector('english', %s)), ' | ')) query "
            "WHERE fts @@ query ORDER BY r DESC, doc_id LIMIT %s", (text, top_k)).fetchall()
        run[q] = {d: float(r) for d, r in rows}
    return run


def table(args) -> None:
    from q3embed import Embedder
    from q3embed.eval.beir import load_beir
    from q3embed.eval.metrics import retrieval_metrics
    from q3embed.stores import FusionConfig

    scifact = harness.data_path(args, "scifact")
    splits = args.splits.split(",")
    names = args.stores.split(",")
    emb = Embedder.load(args.model, device="cpu", dtype="float32")
    corpus, _, _ = load_beir(scifact, splits[0])
    ids = list(corpus)
    texts = [corpus[i] for i in ids]
    work = Path(args.work)
    vectors = embed_cached(emb, texts, work / "corpus-vectors.npy", query=False)
    stores, closers = open_stores(names, work, emb, ids, texts, vectors)
    rows, figures = [], {}
    try:
        for split in splits:
            _, queries, qrels = load_beir(scifact, split)
            qids = list(queries)
            qtexts = [queries[q] for q in qids]
            qv = embed_cached(emb, qtexts, work / f"queries-{split}.npy", query=True)

            def score(run, qrels=qrels) -> float:
                return 100 * retrieval_metrics(run, qrels, k_values=(10,))["ndcg_at_10"]

            for name, store in stores.items():
                searches = {"dense": {}, "lexical": {}, "hybrid": {},
                            "hybrid-weighted": {"fusion": FusionConfig(method="weighted")}}
                for label, kw in searches.items():
                    if label not in args.modes.split(","):
                        continue
                    mode = label.split("-")[0]
                    t = time.perf_counter()
                    hits = store.search(qv, top_k=10, mode=mode, texts=qtexts, **kw)
                    seconds = time.perf_counter() - t
                    run = {q: {h.id: h.score for h in hs} for q, hs in zip(qids, hits)}
                    nd = score(run)
                    rows.append({"split": split, "store": name, "mode": label, "ndcg@10": round(nd, 2),
                                 "ms/query (batch)": round(1000 * seconds / len(qids), 2)})
                    figures[f"{split}/{name}/{label}"] = round(nd, 2)
                    print(f"{split:5s} {name:9s} {label:16s} nDCG@10 {nd:6.2f}  {1000 * seconds / len(qids):7.2f} ms/query")
                if name == "pgvector" and args.fts:
                    nd = score(fts_run(store, queries))
                    rows.append({"split": split, "store": name, "mode": "lexical (ts_rank_cd, not BM25)",
                                 "ndcg@10": round(nd, 2), "ms/query (batch)": ""})
                    figures[f"{split}/pgvector/fts-ts_rank_cd"] = round(nd, 2)
                    print(f"{split:5s} pgvector  fts ts_rank_cd   nDCG@10 {nd:6.2f}")
            if "index" in stores and args.latency:
                _latency(stores["index"], qv, qtexts, split, rows)
                if args.reranker:
                    _rerank_latency(args.reranker, emb, stores["index"], qtexts, split, rows)
        _check_targets(figures, splits)
    finally:
        for s in stores.values():
            s.close()
        for close in closers:
            close()
    print()
    print(harness.markdown_table(rows))
    harness.finish(args, figures, dtype="float32", rows=rows)


def _latency(index, qv, qtexts, split, rows) -> None:
    """p50/p99 of one query at a time (vector given, so only the search is timed), 200 queries."""
    n = min(200, len(qtexts))
    for mode in ("dense", "lexical", "hybrid"):
        it = iter(range(n))

        def one(mode=mode, it=it):
            i = next(it)
            index.search(qv[i], top_k=10, mode=mode, texts=qtexts[i])

        xs = harness.samples(one, n - 1, warmup=1)
        s = harness.summary(xs)
        rows.append({"split": split, "store": "index (one query)", "mode": mode, "ndcg@10": "",
                     "ms/query (batch)": f"p50 {1000 * s['p50']:.2f}, p99 {1000 * s['p99']:.2f}"})


def _rerank_latency(path: str, emb, index, qtexts, split, rows, n: int = 20) -> None:
    """Hybrid, then the reranker over the fused top 100, one query at a time: the mechanics and their cost.
    With a tiny random reranker (``q3embed tiny``) the order it gives means nothing; its time does."""
    from q3embed import Reranker, Retriever

    retriever = Retriever(emb, index, Reranker.load(path, device="cpu", dtype="float32"))
    it = iter(qtexts[:n])
    xs = harness.samples(lambda: retriever.search(next(it), top_k=10, rerank_top=100, mode="hybrid"), n - 1)
    s = harness.summary(xs)
    rows.append({"split": split, "store": "index (one query)", "mode": f"hybrid + rerank top 100 ({Path(path).name})",
                 "ndcg@10": "", "ms/query (batch)": f"p50 {1000 * s['p50']:.0f}, p99 {1000 * s['p99']:.0f}"})


def _check_targets(figures: dict, splits) -> None:
    for split in splits:
        for name in ("index", "pgvector", "qdrant"):
            if f"{split}/{name}/hybrid" not in figures:
                continue
            if not all(f"{split}/{name}/{m}" in figures for m in ("dense", "lexical")):
                continue
            d, x, h = (figures[f"{split}/{name}/{m}"] for m in ("dense", "lexical", "hybrid"))
            ok = h > max(d, x) and all(figures[f"{split}/{name}/{m}"] >= t for m, t in TARGETS.get(split, {}).items())
            print(f"{split} {name}: hybrid {h} vs dense {d}, lexical {x}: {'meets' if ok else 'MISSES'} the targets")
