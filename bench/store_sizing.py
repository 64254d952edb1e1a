"""Sizing figures for docs/scale-out.md: bytes per million vectors per storage dtype (embedded index and
pgvector), and pgvector HNSW build time and query latency at 100K vectors.

The vectors are RANDOM unit vectors (Gaussian, L2-normalised), not embeddings: sizes and timings depend
on count and dim, not on the values (HNSW recall on random vectors is a lower bound; real embeddings
cluster and are easier). The PostgreSQL is pgserver's (pgvector 0.6.x), in a temp folder, one
connection; HNSW settings are PgVectorStore's (AnnConfig: m 32, ef_construction 200, ef_search 64).

    nice -n 10 python -m bench.store_sizing --n 100000 --dim 384
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


def main() -> None:
    ap = harness.parser("store_sizing", __doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384, help="384 = all-MiniLM-L6-v2; 1024 = Qwen3-Embedding-0.6B")
    ap.add_argument("--queries", type=int, default=200)
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

    cfg = AnnConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tempfile.mkdtemp(prefix="pgsizing_", dir=args.work), cleanup_mode="stop")
    try:
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
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
