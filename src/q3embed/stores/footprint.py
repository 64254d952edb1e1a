"""Memory per million vectors, read from what a store holds (its files or its table), not computed from dims.

Embedded index: the committed segment files by role. ``vectors`` (+ ``scales`` for int8) is what exact
search reads (memory-mapped: paged in as it scans, so in RAM once warm); ``bits`` is the binary first
pass, read into RAM whole; binary search then touches only its candidates' vector rows, so the vectors
may stay on disk. ``rows`` (ids, offsets, text) is held in RAM by every method.

pgvector: the average stored size of the ``embedding`` and ``bits`` columns (``pg_column_size``) and the
whole table with its indexes (``pg_total_relation_size``), per row.
"""

from __future__ import annotations

PER = 1_000_000


def footprint(store) -> dict[str, float] | None:
    """MB per million vectors (chunks) by part, or None for a store that cannot say (Qdrant)."""
    if hasattr(store, "manifest"):
        return _index_footprint(store)
    if hasattr(store, "conn"):
        return _pgvector_footprint(store)
    return None


def _index_footprint(index) -> dict[str, float] | None:
    rows = sum(seg.rows for seg in index.manifest.segments)
    if not rows:
        return None
    by_role: dict[str, int] = {}
    for seg in index.manifest.segments:
        for role, meta in seg.files.items():
            by_role[role] = by_role.get(role, 0) + int(meta["bytes"])
    def mb(*roles: str) -> float:
        return round(sum(by_role.get(r, 0) for r in roles) / rows * PER / 1e6, 1)

    out = {f"{index.spec.dtype} vectors": mb("vectors", "scales")}
    if "bits" in by_role:
        out[f"binary first pass ({index.spec.binary_dim} bits, in RAM)"] = mb("bits")
    out["ids, offsets and text"] = mb("rows")
    return out


def _pgvector_footprint(store) -> dict[str, float] | None:
    bits = "avg(pg_column_size(bits))" if store.spec.binary_dim else "0"
    with store._conn_lock:
        n, emb, bit, total = store.conn.execute(
            f"SELECT count(*), avg(pg_column_size(embedding)), {bits}, pg_total_relation_size('{store._table}') "
            f"FROM {store._table}").fetchone()
    if not n:
        return None
    out = {"vector column": round(float(emb) * PER / 1e6, 1)}
    if store.spec.binary_dim:
        out[f"bit column ({store.spec.binary_dim} bits)"] = round(float(bit) * PER / 1e6, 1)
    out["table with indexes"] = round(total / n * PER / 1e6, 1)
    return out


def describe(fp: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g} MB" for k, v in fp.items())
