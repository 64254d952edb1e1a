"""bm25s against tantivy as the embedded index's lexical engine, on N synthetic documents.

Both get the same terms (q3embed's analyzer output, joined by spaces; tantivy splits them on
whitespace), so the figures compare the engines, not their tokenizers. Reports build time, disk,
one-query latency (p50/p99, top 100), and the cost of adding 1% more documents to a built index
(tantivy: add + commit + reopen; bm25s: re-index everything, as its matrix is immutable).

    python -m bench.lexical_engines [--docs 100000] [--queries 200] [--work WORK]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from bench import harness


def synthetic_terms(n_docs: int, n_vocab: int, seed: int = 0) -> list[list[str]]:
    """Zipf-distributed terms, 60-250 per document (SciFact abstracts are about 200 words)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(60, 250, n_docs)
    ids = np.minimum(rng.zipf(1.1, lengths.sum()), n_vocab) - 1
    words = np.array([f"w{i}" for i in range(n_vocab)])[ids]
    cuts = np.cumsum(lengths)[:-1]
    return [d.tolist() for d in np.split(words, cuts)]


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def bench_bm25s(docs, extra, queries, work: Path) -> dict:
    import bm25s

    t0 = time.perf_counter()
    model = bm25s.BM25(method="lucene")
    model.index(docs, show_progress=False)
    build = time.perf_counter() - t0
    model.save(str(work / "bm25s"))
    disk = folder_bytes(work / "bm25s")
    times = []
    for q in queries:
        t = time.perf_counter()
        model.retrieve([[w for w in q if w in model.vocab_dict]], k=100, show_progress=False, n_threads=1)
        times.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    again = bm25s.BM25(method="lucene")
    again.index(docs + extra, show_progress=False)
    add = time.perf_counter() - t0
    t0 = time.perf_counter()
    bm25s.BM25.load(str(work / "bm25s"))
    load = time.perf_counter() - t0
    return {"build_s": build, "disk_mb": disk / 1e6, "load_s": load, "add_1pct_s": add, **_lat(times)}


def bench_tantivy(docs, extra, queries, work: Path) -> dict:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("body", tokenizer_name="whitespace")
    builder.add_unsigned_field("row", stored=True)  # indexed=True panics the writer in tantivy-py 0.27
    schema = builder.build()
    path = work / "tantivy"
    path.mkdir()
    t0 = time.perf_counter()
    index = tantivy.Index(schema, path=str(path))
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    for i, d in enumerate(docs):
        writer.add_document(tantivy.Document(body=" ".join(d), row=i))
    writer.commit()
    writer.wait_merging_threads()
    build = time.perf_counter() - t0
    disk = folder_bytes(path)
    index.reload()
    searcher = index.searcher()
    times = []
    for q in queries:
        t = time.perf_counter()
        terms = [tantivy.Query.term_query(schema, "body", w) for w in q]
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, x) for x in terms])
        searcher.search(query, 100)
        times.append(time.perf_counter() - t)
    t0 = time.perf_counter()
    writer = index.writer(heap_size=128_000_000, num_threads=1)
    for i, d in enumerate(extra, start=len(docs)):
        writer.add_document(tantivy.Document(body=" ".join(d), row=i))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    add = time.perf_counter() - t0
    t0 = time.perf_counter()
    tantivy.Index.open(str(path)).searcher()
    load = time.perf_counter() - t0
    return {"build_s": build, "disk_mb": disk / 1e6, "load_s": load, "add_1pct_s": add, **_lat(times)}


def _lat(times):
    p50, p99 = percentiles(times)
    return {"p50_ms": p50, "p99_ms": p99}


def main() -> None:
    ap = harness.parser("lexical_engines", __doc__)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--vocab", type=int, default=200_000)
    ap.add_argument("--queries", type=int, default=200)
    args = harness.setup(ap.parse_args())
    work = args.work / "indexes"  # rebuilt from nothing on every run
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    terms = synthetic_terms(args.docs + args.docs // 100, args.vocab)
    docs, extra = terms[: args.docs], terms[args.docs:]
    rng = np.random.default_rng(1)
    queries = [rng.choice(docs[i], size=min(8, len(docs[i])), replace=False).tolist()
               for i in rng.integers(0, len(docs), args.queries)]
    rows = {"bm25s": bench_bm25s(docs, extra, queries, work), "tantivy": bench_tantivy(docs, extra, queries, work)}
    keys = ["build_s", "disk_mb", "load_s", "p50_ms", "p99_ms", "add_1pct_s"]
    print(f"{args.docs} documents, {args.queries} queries of 8 terms, top 100, one thread")
    print(f"| engine | {' | '.join(keys)} |\n|---|{'---|' * len(keys)}")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
