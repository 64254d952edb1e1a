"""Binary first pass + rescoring: the Hamming kernels against a plain reference, and the embedded
index's binary search against its exact search."""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.stores import Index
from q3embed.stores.binary import (BinaryConfig, HammingSearcher, binary_top_rows, check_binary_dim, hamming_numpy,
                                   hamming_reference, pack_signs)


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("bits", [8, 64, 96, 384])
def test_hamming_kernels_match_the_plain_reference(bits):
    rng = np.random.default_rng(bits)
    docs, queries = pack_signs(_unit(rng, 300, bits), bits), pack_signs(_unit(rng, 7, bits), bits)
    ref = hamming_reference(queries, docs)  # (7, 300)
    np.testing.assert_array_equal(hamming_numpy(queries, docs), ref)
    for use_faiss in (False, True):
        if use_faiss:
            pytest.importorskip("faiss")
        dist, rows = HammingSearcher(docs, use_faiss=use_faiss).nearest(queries, 20)
        np.testing.assert_array_equal(dist, np.sort(ref, axis=1)[:, :20])  # the 20 smallest distances
        np.testing.assert_array_equal(np.take_along_axis(ref, rows, 1), dist)  # ... at the rows it names


def test_numpy_first_pass_breaks_ties_by_row_and_skips_dead_rows():
    docs = pack_signs(np.ones((6, 16), np.float32), 16)  # six identical rows: all at distance 0
    q = pack_signs(np.ones((1, 16), np.float32), 16)
    dead = np.array([False, True, False, False, True, False])
    dist, rows = HammingSearcher(docs, use_faiss=False).nearest(q, 3, dead)
    assert rows.tolist() == [[0, 2, 3]] and dist.tolist() == [[0, 0, 0]]


def test_signs_are_packed_like_postgres_bit_strings():
    v = np.array([[0.5, -1.0, 0.0, 2.0, -0.1, 0.3, 0.2, -0.2, 1.0]], np.float32)
    assert pack_signs(v, 8).tolist() == [[0b10010110]]  # > 0 sets the bit (0.0 does not), first dim = top bit
    with pytest.raises(ValueError, match="multiple of 8"):
        check_binary_dim(12, 64)
    with pytest.raises(ValueError, match="index dim 64"):
        check_binary_dim(128, 64)
    with pytest.raises(ValueError, match="oversample"):
        BinaryConfig(oversample=0.5)


def test_enough_oversampling_is_exact_search_after_rescoring():
    """Rescoring every candidate the first pass could return is exact search, whatever the bits say."""
    rng = np.random.default_rng(0)
    docs, queries = _unit(rng, 500, 64), _unit(rng, 9, 64)
    parts = [(0, HammingSearcher(pack_signs(docs[:300], 32)), docs[:300], None, np.zeros(300, bool)),
             (300, HammingSearcher(pack_signs(docs[300:], 32)), docs[300:], None, np.zeros(200, bool))]
    scores, rows = binary_top_rows(queries, parts, 10, BinaryConfig(oversample=50), 32)
    exact = queries @ docs.T  # (9, 500)
    np.testing.assert_array_equal(rows, np.argsort(-exact, axis=1)[:, :10])
    np.testing.assert_allclose(scores, np.sort(exact, axis=1)[:, ::-1][:, :10], atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_index_binary_search_rescored_equals_exact(tmp_path, hash_embedder, doc_maker, dtype):
    docs = doc_maker(200)
    idx = Index.build(tmp_path / "idx", docs, hash_embedder, dtype=dtype, binary_dim=32)  # MRL: bits of 32 of 64 dims
    assert list((tmp_path / "idx" / "segments").glob("*.bits.npy"))
    queries = hash_embedder.encode_queries(["cooking bread oven flour item7", "football goal match team"])
    exact = idx.search(queries, top_k=5)
    full = idx.search(queries, top_k=5, method="binary", tuning=BinaryConfig(oversample=200))
    assert [[h.id for h in r] for r in full] == [[h.id for h in r] for r in exact]
    np.testing.assert_allclose([h.score for r in full for h in r], [h.score for r in exact for h in r], atol=1e-5)
    default = idx.search(queries, top_k=5, method="binary")  # oversample 4: 20 candidates
    assert default[0][0].id == "d7"
    bits_only = idx.search(queries, top_k=5, method="binary", tuning=BinaryConfig(rescore=False))
    assert all(-1 <= h.score <= 1 for r in bits_only for h in r)
    idx.delete(["d7"])
    idx.add([("late", "cooking bread oven flour item7 late")])  # a second segment, a dead row in the first
    hits = idx.search(queries[0], top_k=3, method="binary", tuning=BinaryConfig(oversample=100))
    assert [h.id for h in hits] == [h.id for h in idx.search(queries[0], top_k=3)] and "d7" not in {h.id for h in hits}
    idx.compact()
    assert Index.open(idx.root).search(queries[0], top_k=3, method="binary")[0].id == "late"


def test_binary_mode_needs_an_index_with_bits(tmp_path, hash_embedder, doc_maker):
    idx = Index.build(tmp_path / "idx", doc_maker(5), hash_embedder)
    with pytest.raises(ValueError, match="keeps none; build it with binary_dim"):
        idx.search("cooking", method="binary")
    with pytest.raises(ValueError, match="multiple of 8"):
        Index.create(tmp_path / "other", hash_embedder, binary_dim=7)


def test_rows_read_from_a_mapped_file_equal_the_mapping(tmp_path):
    from q3embed.stores.binary import read_rows

    x = np.arange(60, dtype=np.int8).reshape(10, 6)
    np.save(tmp_path / "v.npy", x)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    rows = np.array([0, 3, 9])
    np.testing.assert_array_equal(read_rows(mapped, rows), x[rows])
    np.testing.assert_array_equal(read_rows(x, rows), x[rows])


def test_cli_build_with_bits_search_binary_and_info(tmp_path, tiny_embedding_dir, capsys):
    import json

    from q3embed.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(
        ["Paris is the capital of France.", "Rain falls from clouds.", "Yeast makes bread rise."])))
    out = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--out", str(out),
                 "--dim", "32", "--binary-dim", "32", "--storage-dtype", "int8"]) == 0
    capsys.readouterr()
    assert main(["index", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["spec"]["binary_dim"] == 32
    per_million = info["memory_per_million_vectors_mb"]
    assert per_million["binary first pass (32 bits, in RAM)"] > 0 and per_million["int8 vectors"] > 0  # 3 rows: headers
    exact = main(["search", str(out), "bread", "--json"]), json.loads(capsys.readouterr().out)["hits"]
    binary = main(["search", str(out), "bread", "--method", "binary", "--oversample", "3", "--json"]), \
        json.loads(capsys.readouterr().out)["hits"]
    assert exact[0] == binary[0] == 0 and [h["id"] for h in exact[1]] == [h["id"] for h in binary[1]]  # 3 rows: all
    assert main(["search", str(out), "bread", "--method", "binary", "--oversample", "0.5"]) == 1
    assert "--oversample must be >= 1" in capsys.readouterr().err
    plain = tmp_path / "plain"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--out",
                 str(plain)]) == 0
    assert main(["search", str(plain), "bread", "--method", "binary"]) == 1
    assert "keeps none; rebuild it with `q3embed index build --binary-dim N`" in capsys.readouterr().err
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--out",
                 str(tmp_path / "odd"), "--binary-dim", "12"]) == 1
    assert "--binary-dim must be 0 (no sign bits) or a multiple of 8 up to the model's dim, got 12" in \
        capsys.readouterr().err


def test_resume_keeps_the_bits_setting_and_qdrant_copies_them_whole(tmp_path, hash_embedder, doc_maker):
    from q3embed.stores import IndexMismatchError

    idx = Index.build(tmp_path / "idx", doc_maker(10), hash_embedder, binary_dim=32)
    with pytest.raises(IndexMismatchError, match="binary_dim 32"):
        Index.build(tmp_path / "idx", doc_maker(10), hash_embedder, resume=True)
    assert len(Index.build(tmp_path / "idx", doc_maker(10), hash_embedder, resume=True, binary_dim=32)) == 10
    qdrant_client = pytest.importorskip("qdrant_client")
    from q3embed.stores.qdrant import QdrantStore

    copy = QdrantStore.from_index(idx, qdrant_client.QdrantClient(":memory:"), "c")
    assert copy.spec.binary_dim == 64  # Qdrant's binary quantization covers every dimension
    assert copy.search(hash_embedder.encode_queries(["cooking item7"])[0], top_k=1, method="binary")[0].id == "d7"
