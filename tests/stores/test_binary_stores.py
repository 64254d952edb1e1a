"""Binary search on every store: the embedded Index, pgvector (a real PostgreSQL) and Qdrant (local mode).

Tolerance between stores (docs/search.md, "Binary vectors"): the embedded index and pgvector rank
the same sign bits with the same Hamming distances, so their rescored top-k agree except where rows
tie in Hamming distance across the candidate cut (each store breaks such ties its own way); at
most one of the top 5 may differ here, and a hit both return carries the same score. Qdrant's
local mode searches exactly (it drops the quantization), so it is held to exact search.
"""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.stores import Index
from q3embed.stores.binary import BinaryConfig

STORES = ["index", "qdrant", "pgvector"]
QUERIES = ["cooking bread", "football goal", "music guitar", "biology cell protein", "astronomy item8"]


def make_binary_store(kind, tmp_path, embedder, request, binary_dim=64):
    if kind == "index":
        return Index.create(tmp_path / "idx", embedder, binary_dim=binary_dim)
    if kind == "qdrant":
        qdrant_client = pytest.importorskip("qdrant_client")
        from q3embed.stores.qdrant import QdrantStore

        return QdrantStore.create(qdrant_client.QdrantClient(":memory:"), "docs", embedder, binary_dim=binary_dim)
    from q3embed.stores.pgvector import PgVectorStore

    return PgVectorStore.create(request.getfixturevalue("pg_url"), embedder, binary_dim=binary_dim)


@pytest.fixture
def many_docs(doc_maker):
    # doc_maker is tests/stores/conftest.py's make_docs; a plain `from conftest import` would pick
    # whichever conftest module pytest imported first under that name.
    return doc_maker(240)


def _search_all(tmp_path, hash_embedder, request, docs, **kw):
    queries = hash_embedder.encode_queries(QUERIES)
    out = {}
    for kind in STORES:
        s = make_binary_store(kind, tmp_path / kind, hash_embedder, request)
        s.add(docs)
        out[kind] = (s.search(queries, top_k=5, method="binary", **kw), s.search(queries, top_k=5))
        s.close()
    return out


def test_enough_oversampling_gives_exact_search_on_every_store(tmp_path, hash_embedder, request, many_docs):
    out = _search_all(tmp_path, hash_embedder, request, many_docs, tuning=BinaryConfig(oversample=1000))
    exact = out["index"][1]
    for kind in STORES:
        binary, store_exact = out[kind]
        for got, want, own in zip(binary, exact, store_exact):
            assert [h.id for h in got] == [h.id for h in want] == [h.id for h in own], kind
            np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=1e-5)


def test_default_binary_search_agrees_across_stores_within_the_tolerance(tmp_path, hash_embedder, request, many_docs):
    out = _search_all(tmp_path, hash_embedder, request, many_docs)
    for a, b in zip(out["index"][0], out["pgvector"][0]):
        assert len({h.id for h in a} & {h.id for h in b}) >= 4
        common = {h.id: h.score for h in a}
        for h in b:
            if h.id in common:
                assert h.score == pytest.approx(common[h.id], abs=1e-5)
    for got, want in zip(out["qdrant"][0], out["index"][1]):  # local mode: exact
        assert [h.id for h in got] == [h.id for h in want]


def test_hamming_scores_without_rescoring_agree(tmp_path, hash_embedder, request, many_docs):
    out = {}
    queries = hash_embedder.encode_queries(QUERIES)
    for kind in ("index", "pgvector"):
        s = make_binary_store(kind, tmp_path / kind, hash_embedder, request)
        s.add(many_docs)
        out[kind] = s.search(queries, top_k=5, method="binary", tuning=BinaryConfig(rescore=False))
        s.close()
    for a, b in zip(out["index"], out["pgvector"]):
        # the k-th best Hamming distances are the same even where tied rows differ
        np.testing.assert_allclose(sorted(h.score for h in a), sorted(h.score for h in b), atol=1e-6)
        assert all(abs(h.score * 32 - round(h.score * 32)) < 1e-4 for h in a)  # 1 - 2 * hamming / 64


@pytest.mark.parametrize("kind", STORES)
def test_binary_mode_needs_a_store_with_bits(kind, tmp_path, hash_embedder, request):
    s = make_binary_store(kind, tmp_path, hash_embedder, request, binary_dim=0)
    s.add([("a", "solar panels")])
    with pytest.raises(ValueError, match="keeps none"):
        s.search("solar", method="binary")
    s.close()


def test_pgvector_mrl_prefix_bits(tmp_path, hash_embedder, request, many_docs):
    s = make_binary_store("pgvector", tmp_path, hash_embedder, request, binary_dim=32)
    idx = make_binary_store("index", tmp_path, hash_embedder, request, binary_dim=32)
    for store in (s, idx):
        store.add(many_docs[:60])
    q = hash_embedder.encode_queries(["cooking bread oven flour item7"])[0]
    for store in (s, idx):
        assert store.search(q, top_k=3, method="binary")[0].id == "d7"
    assert s.conn.execute(f"SELECT length(bits) FROM {s._table} LIMIT 1").fetchone()[0] == 32
    from q3embed.stores.footprint import footprint

    sizes = footprint(s)  # what `index info --store URL` shows, from the table itself
    assert sizes["bit column (32 bits)"] < sizes["vector column"] / 8 < sizes["table with indexes"]
    s.close()


def test_qdrant_binary_quantization_requests():
    """What a Qdrant server is asked for (local mode cannot show it: it drops quantization)."""
    pytest.importorskip("qdrant_client")
    from qdrant_client import models

    from q3embed.stores.qdrant import binary_quantization, binary_search_params
    from q3embed.stores.spec import IndexSpec

    q = binary_quantization(IndexSpec("m", 64, 64, binary_dim=64))
    assert isinstance(q, models.BinaryQuantization) and q.binary.always_ram
    assert binary_quantization(IndexSpec("m", 64, 64)) is None
    p = binary_search_params(BinaryConfig(oversample=3, rescore=False))
    assert p.exact is False and p.quantization.oversampling == 3.0 and p.quantization.rescore is False


def test_qdrant_refuses_a_prefix_of_bits(hash_embedder):
    qdrant_client = pytest.importorskip("qdrant_client")
    from q3embed.stores.qdrant import QdrantStore

    with pytest.raises(ValueError, match="binary_dim must equal the collection dim 64"):
        QdrantStore.create(qdrant_client.QdrantClient(":memory:"), "docs", hash_embedder, binary_dim=32)
