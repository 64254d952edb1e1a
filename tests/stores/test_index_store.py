import json

import numpy as np
import pytest

from q3embed.stores import (AnnConfig, DuplicateIdError, FunnelConfig, Index, IndexCorruptError, IndexMismatchError,
                           IndexNotFoundError)


@pytest.fixture
def built(tmp_path, small_docs, hash_embedder):
    return Index.build(tmp_path / "idx", small_docs, hash_embedder, commit_every=25)


def test_build_open_search_roundtrip(built, tmp_path, hash_embedder, small_docs):
    assert len(built) == 60 and built.generation == 4  # 25 + 25 + 10 chunks: three commits, then "build finished"
    assert len(built.segments) == 3 and not built.interrupted
    again = Index.open(tmp_path / "idx", hash_embedder, verify=True)
    assert len(again) == 60 and again.ids() == built.ids()
    hits = again.search("cooking bread oven flour item7", top_k=5)
    assert hits[0].id == "d7" and hits[0].text == small_docs[7][1]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.id for h in hits}) == 5


def test_exact_scores_are_inner_products(built, hash_embedder, small_docs):
    q = hash_embedder.encode_queries(["football goal"])  # (1, 64)
    hits = built.search(q[0], top_k=60)
    d = hash_embedder.encode_documents([t for _, t in small_docs])
    want = dict(zip([i for i, _ in small_docs], (d @ q[0]).tolist()))
    assert {h.id: pytest.approx(want[h.id], abs=1e-5) for h in hits} == {h.id: h.score for h in hits}


def test_batch_and_single_queries_agree(built):
    batch = built.search(["music guitar", "finance bank"], top_k=3)
    assert [h.id for h in batch[1]] == [h.id for h in built.search("finance bank", top_k=3)]


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_storage_dtypes_rank_like_float32(tmp_path, small_docs, hash_embedder, dtype):
    ref = Index.build(tmp_path / "f32", small_docs, hash_embedder)
    idx = Index.build(tmp_path / dtype, small_docs, hash_embedder, dtype=dtype)
    queries = [t for _, t in small_docs[:20]]
    overlap = [len({h.id for h in a} & {h.id for h in b}) / 10
               for a, b in zip(ref.search(queries, top_k=10), idx.search(queries, top_k=10))]
    assert np.mean(overlap) >= 0.9
    assert idx.size_bytes() < ref.size_bytes()
    vec = np.load(next((tmp_path / dtype / "segments").glob("*.vectors.npy")))
    assert vec.dtype == np.dtype(dtype)


@pytest.mark.parametrize("method,kw", [("hnsw", {}), ("ivf", {"tuning": AnnConfig("ivf", nlist=4, nprobe=4)}),
                                     ("funnel", {"tuning": FunnelConfig(dim=64, candidates=60)})])
def test_approximate_methods_recall_exact(built, small_docs, method, kw):
    queries = [t for _, t in small_docs[::3]]
    exact = built.search(queries, top_k=10)
    approx = built.search(queries, top_k=10, method=method, **kw)
    recall = np.mean([len({h.id for h in a} & {h.id for h in e}) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.95, recall


def test_ann_cache_follows_generations(built, tmp_path, doc_maker):
    built.search("music", method="hnsw")
    assert [p.name for p in (tmp_path / "idx" / "ann").iterdir()] == [f"hnsw-m32-efc200-g{built.generation}.faiss"]
    built.add(doc_maker(3, prefix="new"))
    hits = built.search("astronomy stars galaxy telescope item0 new", method="hnsw", top_k=3)
    assert hits[0].id == "new0"  # the new document is found: the graph was rebuilt for the new commit
    assert [p.name for p in (tmp_path / "idx" / "ann").iterdir()] == [f"hnsw-m32-efc200-g{built.generation}.faiss"]


def test_funnel_at_full_dim_equals_exact(built):
    a = built.search("biology cell", top_k=10)
    b = built.search("biology cell", top_k=10, method="funnel", tuning=FunnelConfig(dim=64, candidates=60))
    assert [h.id for h in a] == [h.id for h in b]


def test_add_delete_and_duplicates(built, hash_embedder, doc_maker):
    with pytest.raises(DuplicateIdError, match=r"already holds 2 of these document ids \('d1', 'd2'\)"):
        built.add([("d1", "x"), ("d2", "y"), ("fresh", "z")])
    assert len(built) == 60 and "fresh" not in built  # nothing written
    assert built.add([("d1", "replaced text"), ("fresh", "z")], on_duplicate="replace") == 2
    assert len(built) == 61 and built.chunks("d1")[0]["text"] == "replaced text"
    assert built.search("replaced text", top_k=1)[0].id == "d1"
    assert built.add([("d2", "ignored"), ("fresh2", "w")], on_duplicate="skip") == 1
    assert built.chunks("d2")[0]["text"] != "ignored"
    assert built.delete(["d1", "d3"]) == 2
    assert len(built) == 60 and "d1" not in built
    assert all(h.id not in ("d1", "d3") for h in built.search("replaced text", top_k=60))
    with pytest.raises(KeyError, match="'nope'"):
        built.delete(["d4", "nope"])
    assert "d4" in built
    assert built.delete(["d4", "nope"], missing="ignore") == 1


def test_state_survives_reopen_and_compaction(built, tmp_path, hash_embedder):
    built.delete(["d0", "d5"])
    built.add([("z", "late document")])
    reopened = Index.open(tmp_path / "idx")
    assert sorted(reopened.ids()) == sorted(built.ids()) and len(reopened) == 59
    before = reopened.search(hash_embedder.encode_queries(["cooking bread"])[0], top_k=10)
    reopened.compact()
    assert len(reopened.segments) == 1 and len(reopened) == 59
    assert len(list((tmp_path / "idx" / "segments").glob("*.vectors.npy"))) == 1
    after = reopened.search(hash_embedder.encode_queries(["cooking bread"])[0], top_k=10)
    assert [h.id for h in after] == [h.id for h in before]


def test_different_model_or_dim_is_refused(built, tmp_path, hash_embedder_cls, small_docs):
    other = hash_embedder_cls(width=64, seed=1, name="other-model")
    with pytest.raises(IndexMismatchError, match=r"built with model 'hash-embedder', dim 64.*'other-model'"):
        Index.open(tmp_path / "idx", other)
    narrow = hash_embedder_cls(width=32)
    with pytest.raises(IndexMismatchError, match="width 32"):
        Index.open(tmp_path / "idx", narrow)
    with pytest.raises(IndexMismatchError, match=r"query vectors have shape \(32,\).*dim-64"):
        built.search(np.ones(32, np.float32))
    mrl = Index.build(tmp_path / "d32", small_docs, hash_embedder_cls(width=64), dim=32)
    assert mrl.spec.dim == 32
    with pytest.raises(IndexMismatchError, match="dim-32"):
        mrl.search(np.ones(64, np.float32))


def test_missing_index_names_the_path(tmp_path):
    with pytest.raises(IndexNotFoundError, match=str(tmp_path / "nowhere")):
        Index.open(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="manifest.json is missing"):
        Index.open(tmp_path / "empty")


def test_truncated_or_altered_files_are_detected(built, tmp_path):
    vec = next((tmp_path / "idx" / "segments").glob("*.vectors.npy"))
    data = vec.read_bytes()
    vec.write_bytes(data[:-8])
    with pytest.raises(IndexCorruptError, match="bytes; the commit recorded"):
        Index.open(tmp_path / "idx")
    vec.write_bytes(data[:-8] + b"\x00" * 8)  # same size, different content
    Index.open(tmp_path / "idx")  # the cheap size check passes ...
    with pytest.raises(IndexCorruptError, match="sha256"):
        Index.open(tmp_path / "idx", verify=True)  # ... the checksum does not


def test_build_refuses_to_clobber(tmp_path, built, small_docs, hash_embedder):
    with pytest.raises(FileExistsError, match="already holds an index"):
        Index.build(tmp_path / "idx", small_docs, hash_embedder)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a q3embed index"):
        Index.build(other, small_docs, hash_embedder, overwrite=True)
    assert (other / "notes.txt").exists()
    again = Index.build(tmp_path / "idx", small_docs[:5], hash_embedder, overwrite=True)
    assert len(again) == 5


def test_resume_skips_stored_documents(tmp_path, small_docs, hash_embedder):
    idx = Index.build(tmp_path / "idx", small_docs, hash_embedder)
    idx.delete([doc_id for doc_id, _ in small_docs[20:]])  # as if killed after committing the first 20
    idx.set_building(True)
    idx = Index.build(tmp_path / "idx", small_docs, hash_embedder, resume=True)
    assert len(idx) == 60
    with pytest.raises(IndexMismatchError, match="cannot resume"):
        Index.build(tmp_path / "idx", small_docs, hash_embedder, resume=True, dtype="int8")


def test_manifest_records_the_build(built, tmp_path):
    m = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert m["spec"]["model"] == "hash-embedder" and m["spec"]["dim"] == 64 and m["spec"]["dtype"] == "float32"
    assert m["spec"]["chunking"] == {"tokens": 0, "overlap": 0} and len(m["spec"]["probe"]) == 2
    assert sum(s["rows"] for s in m["segments"]) == 60


def test_chunked_documents_return_each_document_once(tmp_path, tiny_embedder):
    long_doc = " ".join(f"sentence {i} about rivers and boats." for i in range(60))
    docs = [("long", long_doc), ("short", "a short note on mountains")]
    idx = Index.build(tmp_path / "c", docs, tiny_embedder, chunk_tokens=24, chunk_overlap=4)
    assert len(idx) == 2 and idx.num_chunks > 5
    hits = idx.search("rivers and boats", top_k=5)
    assert sorted(h.id for h in hits) == ["long", "short"]
    h = next(h for h in hits if h.id == "long")
    assert long_doc[h.start:h.end] == h.text
