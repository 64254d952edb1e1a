"""Sizing figures for docs/scale-out.md and docs/search.md: memory per million vectors for each storage
choice (embedded index: float32, float16, int8, binary first pass + a rescoring store; pgvector: the
vector and bit columns), and pgvector HNSW build time and query latency at 100K vectors.

Embedded index memory is measured, not computed: each choice is built as a real Index in --work, its
committed files are summed by role, and a child process opens it (RSS growth: the row records every
method keeps), runs the searches that choice is for, and reports how much more its RSS grew
(anonymous memory, and the file pages of memory-mapped vectors it touched). Every figure is scaled
from --n to a million; a fixed working buffer (exact search converts 32K-row blocks of float16 or
int8 to float32, about 50 MB at 384 dims) is scaled with it, so read the anonymous column of those
rows at --n, not per million. pgvector's figures are ``pg_column_size`` averages and ``pg_total_relation_size`` of a
PgVectorStore table with sign bits (``--pg-rows`` rows).

The vectors are RANDOM unit vectors (Gaussian, L2-normalised), not embeddings: sizes and timings depend
on count and dim, not on the values (HNSW recall on random vectors is a lower bound; real embeddings
cluster and are easier). The PostgreSQL is pgserver's (pgvector 0.6.x), in a temp folder, one
connection; HNSW settings are PgVectorStore's (AnnConfig: m 32, ef_construction 200, ef_search 64).

    nice -n 10 python -m bench.store_sizing --n 100000 --dim 384 [--memory-only]
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import warnings

import numpy as np

from bench import harness


def embedded_bytes(vectors: np.ndarray) -> dict[str, int]:
    """Bytes the embedded index writes for these vectors per storage dtype (vectors + int8 scales),
    exactly as a segment stores them (``quantize`` then ``.npy``). Row text and ids come on top."""
    from q3embed.stores.storage import STORAGE_DTYPES, quantize

    out = {}
    for dtype in STORAGE_DTYPES:
        stored, scales = quantize(vectors, dtype)
        total = 0
        for arr in (stored, scales):
            if arr is not None:
                buf = io.BytesIO()
                np.save(buf, arr)
                total += buf.tell()
        out[dtype] = total
    return out


# name -> (storage dtype, sign bits?, the search that choice serves)
CHOICES = {"float32": ("float32", False, "exact"), "float16": ("float16", False, "exact"),
           "int8": ("int8", False, "exact"), "binary + int8 rescoring": ("int8", True, "binary"),
           "binary + float32 rescoring": ("float32", True, "binary")}


class _Width:
    """What ``Index.create`` records about a model, for precomputed vectors."""

    name = "random-vectors"

    def __init__(self, dim: int):
        self.width = dim

    def encode_documents(self, texts, dim=None, **_):
        return np.eye(len(texts), dim or self.width, dtype=np.float32)


def _rss() -> dict[str, float]:
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    return out


def rss_worker(root: str, method: str, queries: int, dim: int) -> None:
    """Child process: open the index, search ``queries`` times one at a time, print the RSS growth (bytes)."""
    import json

    import faiss  # noqa: F401  (libraries loaded before the first reading: their pages are not the index's)

    from q3embed.stores import Index, binary, exact  # noqa: F401

    rng = np.random.default_rng(1)
    q = rng.standard_normal((queries, dim), dtype=np.float32)
    before = _rss()
    idx = Index.open(root)
    opened = _rss()  # the row records (ids, offsets, text) every method keeps in RAM
    for v in q:
        idx.search(v, top_k=10, method=method)
    after = _rss()
    print(json.dumps({"open": opened["RssAnon"] + opened["RssFile"] - before["RssAnon"] - before["RssFile"],
                      **{k: after[k] - opened[k] for k in after}}))


def embedded_memory(args, x: np.ndarray) -> list[dict]:
    """One row per storage choice: committed bytes by role and a child's RSS growth, per million vectors."""
    import json
    import subprocess
    import sys

    from q3embed.stores import Index

    ids = [f"v{i}" for i in range(len(x))]
    per = 1_000_000 / len(x) / 1e6  # bytes at n vectors -> MB per million
    rows = []
    for name, (dtype, bits, method) in CHOICES.items():
        root = args.work / f"sizing-{args.n}-{args.dim}-{name.replace(' ', '').replace('+', '-')}"
        try:
            idx = Index.open(root)
            assert len(idx) == len(x)
        except (FileNotFoundError, AssertionError):
            idx = Index.create(root, _Width(args.dim), dtype=dtype, binary_dim=args.dim if bits else 0, overwrite=True)
            for a in range(0, len(x), 50_000):
                idx.add_vectors(ids[a: a + 50_000], x[a: a + 50_000], ids[a: a + 50_000])  # text: the id
        by_role: dict[str, int] = {}
        for seg in idx.manifest.segments:
            for role, meta in seg.files.items():
                by_role[role] = by_role.get(role, 0) + meta["bytes"]
        out = subprocess.run([sys.executable, "-m", "bench.store_sizing", "--rss-worker", str(root), method,
                              "--queries", str(args.queries), "--dim", str(args.dim), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True, cwd=harness.REPO)
        grew = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"storage": name, "search": method,
                     "vectors on disk MB": round((by_role.get("vectors", 0) + by_role.get("scales", 0)) * per, 1),
                     "sign bits on disk MB": round(by_role.get("bits", 0) * per, 1),
                     "RSS after open (row records) MB": round(grew["open"] * per, 1),
                     "RSS growth while searching: anonymous MB": round(grew["RssAnon"] * per, 1),
                     "RSS growth while searching: mapped file pages MB": round(grew["RssFile"] * per, 1)})
        print(rows[-1], flush=True)
    return rows


def pgvector_binary_footprint(server, x: np.ndarray) -> dict:
    """A PgVectorStore table with sign bits, sized by ``stores.footprint`` (MB per million rows)."""
    from q3embed.stores.footprint import footprint
    from q3embed.stores.pgvector import PgVectorStore

    store = PgVectorStore.create(f"{server.get_uri()}&collection=sizing_bits", _Width(x.shape[1]),
                                 binary_dim=x.shape[1], overwrite=True)
    records = [{"id": f"v{i}", "text": f"v{i}"} for i in range(len(x))]
    for a in range(0, len(x), 4096):
        store.add_records(records[a: a + 4096], x[a: a + 4096])
    fp = footprint(store)
    store.close()
    return fp


def main() -> None:
    import sys

    if "--rss-worker" in sys.argv:
        i = sys.argv.index("--rss-worker")
        ap = harness.parser("store_sizing", __doc__)
        ap.add_argument("--queries", type=int, default=200)
        ap.add_argument("--dim", type=int, default=384)
        args, _ = ap.parse_known_args(sys.argv[1:i] + sys.argv[i + 3:])
        harness.setup(args)
        return rss_worker(sys.argv[i + 1], sys.argv[i + 2], args.queries, args.dim)
    ap = harness.parser("store_sizing", __doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384, help="384 = all-MiniLM-L6-v2; 1024 = Qwen3-Embedding-0.6B")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--pg-rows", type=int, default=20_000, help="rows of the pgvector table with sign bits")
    ap.add_argument("--memory-only", action="store_true", help="skip pgvector's HNSW build and latency")
    args = harness.setup(ap.parse_args())

    import pgserver
    import psycopg
    from pgvector.psycopg import register_vector

    from q3embed.stores.ann import AnnConfig

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)  # (n, dim)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)  # (Q, dim)
    per_million = 1_000_000 / args.n
    print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores); n={args.n}, dim={args.dim}, random vectors")
    for dtype, b in embedded_bytes(x).items():
        print(f"embedded index {dtype:8}: {b * per_million / 1e6:8.1f} MB per million vectors "
              f"({b / args.n:.0f} B/vector)")
    rows = embedded_memory(args, x)

    cfg = AnnConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tempfile.mkdtemp(prefix="pgsizing_", dir=args.work), cleanup_mode="stop")
    try:
        pg_bits = pgvector_binary_footprint(server, x[: args.pg_rows])
        print(f"pgvector table with {args.dim} sign bits ({min(args.pg_rows, args.n)} rows), MB per million rows: "
              + ", ".join(f"{k} {v:g}" for k, v in pg_bits.items()))
        if args.memory_only:
            print("\n" + harness.markdown_table(rows))
            harness.finish(args, {"n": args.n, "dim": args.dim, **{f"pgvector {k} MB/M": v for k, v in pg_bits.items()}},
                           dtype="float32", rows=rows)
            return
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]
            conn.execute(f"CREATE TABLE v (id bigint PRIMARY KEY, embedding vector({args.dim}) NOT NULL)")
            t = time.perf_counter()
            with conn.cursor().copy("COPY v (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "vector"])
                for i in range(args.n):
                    copy.write_row((i, x[i]))
            load_s = time.perf_counter() - t
            table_bytes = conn.execute("SELECT pg_total_relation_size('v')").fetchone()[0]
            conn.execute("SET maintenance_work_mem = '1GB'")  # the graph fits in memory: the fast build path
            t = time.perf_counter()
            conn.execute(f"CREATE INDEX v_hnsw ON v USING hnsw (embedding vector_ip_ops) "
                         f"WITH (m = {cfg.hnsw_m}, ef_construction = {cfg.ef_construction})")
            build_s = time.perf_counter() - t
            index_bytes = conn.execute("SELECT pg_relation_size('v_hnsw')").fetchone()[0]

            def timed_topk(vec, exact: bool) -> tuple[float, list[int]]:
                with conn.transaction():
                    if exact:
                        conn.execute("SET LOCAL enable_indexscan = off")
                    else:
                        conn.execute(f"SET LOCAL hnsw.ef_search = {cfg.ef_search}")
                    t0 = time.perf_counter()
                    rows = conn.execute("SELECT id FROM v ORDER BY embedding <#> %s LIMIT 10", (vec,)).fetchall()
                    return time.perf_counter() - t0, [r[0] for r in rows]

            n_exact = min(args.queries, 30)
            exact = [timed_topk(v, True) for v in q[:n_exact]]
            hnsw = [timed_topk(v, False) for v in q]
            recall = statistics.mean(len(set(h[1]) & set(e[1])) / 10 for h, e in zip(hnsw, exact))
    finally:
        server.cleanup()
    ms = lambda xs: f"p50 {1e3 * statistics.median(xs):.1f} ms, p95 {1e3 * float(np.percentile(xs, 95)):.1f} ms"
    print(f"pgvector {version}: COPY {args.n} rows {load_s:.1f} s ({args.n / load_s:.0f} rows/s); table "
          f"{table_bytes * per_million / 1e6:.0f} MB per million vectors ({table_bytes / args.n:.0f} B/row incl. TOAST/heap)")
    print(f"HNSW build (m {cfg.hnsw_m}, ef_construction {cfg.ef_construction}, 1 connection): {build_s:.1f} s; "
          f"index {index_bytes * per_million / 1e6:.0f} MB per million vectors")
    print(f"top-10 latency, one query at a time: exact (seq scan) {ms([e[0] for e in exact])} over {n_exact} queries; "
          f"HNSW ef_search {cfg.ef_search} {ms([h[0] for h in hnsw])} over {len(hnsw)}; "
          f"HNSW recall@10 vs exact {recall:.3f} (first {n_exact} queries)")
    print("\n" + harness.markdown_table(rows))
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
