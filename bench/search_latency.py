"""Latency per query (p50, p99) and memory of each search at 100K synthetic documents, in one run:
dense exact, binary (+ rescoring, and without), lexical (BM25), hybrid (RRF of dense and lexical), and
hybrid with the binary dense stage, all on one embedded Index (float32 vectors + 384 sign bits + BM25).

The documents are synthetic (nothing here can embed 100K texts in reasonable time on a CPU): 1,000
topics, each a random unit centre in 384 dims and 40 topic words; a document's vector is its topic
centre plus noise, and its 60 words mix topic words with Zipf-distributed background words. A
query is a document's vector plus noise and 5 of its words. Quality figures are therefore only
whether the query's source document is in the top 10, and recall@10 against dense exact (low for
every approximate search here: beyond the source document, a top 10 is mostly near-ties of noise);
latency and memory depend on sizes, not on the values.

Each search runs in its own child process (the index opened fresh), one query at a time, so its
memory is its own: RSS after opening the index and after the queries, split into anonymous memory
(what the process allocated: Hamming codes, BM25 structures) and file pages (memory-mapped vectors
it touched; the kernel can drop them, and they are shared between processes).

    python -m bench.search_latency --work WORK [--n 100000] [--queries 200] [--save]
    python -m bench.search_latency --kernels      # the Hamming first pass alone: faiss against numpy
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench import harness

DIM = 384
SEARCHES = {  # name -> search keywords (query given as vector, text, or both)
    "dense exact": {"mode": "dense", "method": "exact"},
    "binary + rescoring (oversample 4)": {"mode": "dense", "method": "binary"},
    "binary, no rescoring": {"mode": "dense", "method": "binary", "rescore": False},
    "lexical (BM25)": {"mode": "lexical"},
    "hybrid (RRF, dense exact)": {"mode": "hybrid", "method": "exact"},
    "hybrid (RRF, dense binary)": {"mode": "hybrid", "method": "binary"},
}


class _Dim:
    """The few embedder attributes ``Index.create`` records (no model: vectors come precomputed)."""

    name, width = "synthetic-384", DIM

    def encode_documents(self, texts, dim=None, **_):
        rng = np.random.default_rng(len(texts))
        v = rng.standard_normal((len(texts), dim or DIM)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def corpus(n: int, n_queries: int, seed: int = 0):
    """(doc vectors (n, 384), doc texts, query vectors (Q, 384), query texts, query source docs)."""
    rng = np.random.default_rng(seed)
    topics = 1000
    centres = rng.standard_normal((topics, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topic_of = rng.integers(0, topics, n)
    vecs = centres[topic_of] + 0.08 * rng.standard_normal((n, DIM)).astype(np.float32)  # (n, 384)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    background = rng.zipf(1.2, (n, 40)) % 20000
    topical = rng.integers(0, 40, (n, 20)) + 40 * topic_of[:, None]
    texts = [" ".join([f"t{w}" for w in t] + [f"w{w}" for w in b]) for t, b in zip(topical, background)]
    src = rng.choice(n, n_queries, replace=False)
    qv = vecs[src] + 0.05 * rng.standard_normal((n_queries, DIM)).astype(np.float32)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    qt = [" ".join(rng.choice(texts[i].split(), 5, replace=False)) for i in src]
    return vecs, texts, qv, qt, src


def build(root: Path, n: int, n_queries: int):
    from q3embed.stores import Index

    vecs, texts, qv, qt, _ = corpus(n, n_queries)
    from q3embed.stores import IndexCorruptError

    try:
        idx = Index.open(root)
        idx.lexical()  # one built by an older lexical schema is rebuilt
        if len(idx) == n:
            return qv, qt
    except (FileNotFoundError, IndexCorruptError):
        pass
    t = time.perf_counter()
    idx = Index.create(root, _Dim(), binary_dim=DIM, overwrite=True)
    for a in range(0, n, 20000):
        idx.add_vectors([f"d{i}" for i in range(a, min(n, a + 20000))], vecs[a: a + 20000], texts[a: a + 20000])
    print(f"built {idx} in {time.perf_counter() - t:.0f} s", flush=True)
    return qv, qt


def _memory() -> dict[str, float]:
    """This process' RSS and its anonymous / file-backed parts, MB (Linux /proc)."""
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def worker(root: Path, name: str, n_queries: int) -> dict:
    from q3embed.stores import Index
    from q3embed.stores.binary import BinaryConfig

    kw = dict(SEARCHES[name])
    rescore = kw.pop("rescore", True)
    if kw.get("method") == "binary":
        kw["tuning"] = BinaryConfig(rescore=rescore)
    _, _, qv, qt, src = corpus(int(os.environ["BENCH_N"]), n_queries)
    before = _memory()
    idx = Index.open(root)
    opened = _memory()

    def one(i):
        if kw["mode"] == "lexical":
            return idx.search(qt[i], top_k=10, **kw)
        if kw["mode"] == "hybrid":
            return idx.search(qv[i], top_k=10, texts=qt[i], **kw)
        return idx.search(qv[i], top_k=10, **kw)

    one(0)  # first-use work (Hamming codes, the BM25 reader) is not a query's latency
    times, ids = [], []
    for i in range(n_queries):
        t = time.perf_counter()
        hits = one(i)
        times.append(time.perf_counter() - t)
        ids.append([h.id for h in hits])
    after = _memory()
    s = harness.summary(times)
    found = float(np.mean([f"d{d}" in got for d, got in zip(src, ids)]))
    return {"search": name, "p50 ms": 1e3 * s["p50"], "p99 ms": 1e3 * s["p99"], "ids": ids, "source doc in top-10": found,
            "RSS after open MB": opened["VmRSS"],
            "RSS after queries MB": after["VmRSS"], "anon growth MB": after["RssAnon"] - before["RssAnon"],
            "file pages MB": after["RssFile"] - before["RssFile"]}


def main(argv=None) -> int:
    p = harness.parser("search_latency", __doc__)
    p.add_argument("--n", type=int, default=100_000, help="synthetic documents (default 100000)")
    p.add_argument("--queries", type=int, default=200, help="queries, one at a time (default 200)")
    p.add_argument("--kernels", action="store_true", help="time the Hamming kernels (faiss, numpy) and stop")
    p.add_argument("--worker", default=None, help=argparse_hidden())
    args = harness.setup(p.parse_args(argv))
    if args.kernels:
        return kernels(args.n, args.queries)
    root = args.work / f"index-{args.n}"
    if args.worker:
        print(json.dumps(worker(root, args.worker, args.queries)))
        return 0
    build(root, args.n, args.queries)
    rows, exact_ids = [], None
    env = {**os.environ, "BENCH_N": str(args.n)}
    for name in SEARCHES:
        out = subprocess.run([sys.executable, "-m", "bench.search_latency", "--work", str(args.work), "--n",
                              str(args.n), "--queries", str(args.queries), "--threads", str(args.threads),
                              "--worker", name], capture_output=True, text=True, env=env, cwd=harness.REPO, check=False)
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
            rows.append({"search": name, "p50 ms": "failed"})
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        ids = r.pop("ids")
        exact_ids = exact_ids or ids
        r["recall@10 vs dense exact"] = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, exact_ids)]))
        rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()})
        print(rows[-1], flush=True)
    print(f"\n{args.n} synthetic documents, {DIM} dims, {args.queries} queries one at a time, {args.threads} thread(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print(harness.markdown_table(rows))
    harness.finish(args, {"documents": args.n, "dim": DIM, "queries": args.queries,
                          "load_average": os.getloadavg()[0]}, dtype="float32", rows=rows,
                   argv=argv if argv is not None else sys.argv[1:])
    return 0


def kernels(n: int, n_queries: int) -> int:
    """ms per query of the first pass alone (40 nearest of n codes of 384 bits), faiss against numpy."""
    from q3embed.stores.binary import HammingSearcher, pack_signs

    rng = np.random.default_rng(0)
    bits = pack_signs(rng.standard_normal((n, DIM)).astype(np.float32), DIM)  # (n, 48)
    q = pack_signs(rng.standard_normal((n_queries, DIM)).astype(np.float32), DIM)
    for name, use_faiss in (("faiss IndexBinaryFlat", True), ("numpy bitwise_count", False)):
        searcher = HammingSearcher(bits, use_faiss=use_faiss)
        times = harness.samples(lambda s=searcher: [s.nearest(v[None], 40) for v in q[:20]], 3)
        print(f"{name}: {1e3 * min(times) / 20:.2f} ms per query ({n} codes, {DIM} bits, one query at a time)")
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
