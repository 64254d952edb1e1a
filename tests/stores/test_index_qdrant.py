import numpy as np
import pytest

from q3embed.stores import Index, IndexMismatchError, Retriever

qdrant_client = pytest.importorskip("qdrant_client")
from q3embed.stores.qdrant import QdrantStore  # noqa: E402


@pytest.fixture
def client():
    return qdrant_client.QdrantClient(":memory:")


def test_from_index_matches_local_exact_search(tmp_path, small_docs, hash_embedder, client):
    local = Index.build(tmp_path / "idx", small_docs, hash_embedder)
    remote = QdrantStore.from_index(local, client, "docs")
    assert len(remote) == 60
    queries = hash_embedder.encode_queries(["cooking bread", "football goal", "music guitar"])
    for a, b in zip(local.search(queries, top_k=5), remote.search(queries, top_k=5)):
        assert [h.id for h in a] == [h.id for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
        assert [h.text for h in a] == [h.text for h in b]


def test_build_add_delete_and_spec_in_a_path_collection(tmp_path, small_docs, hash_embedder, hash_embedder_cls):
    path = str(tmp_path / "qdrant")
    c = qdrant_client.QdrantClient(path=path)
    q = QdrantStore.create(c, "docs", hash_embedder)
    assert q.add(small_docs[:10]) == 10
    with pytest.raises(ValueError, match="already holds 1"):
        q.add([("d1", "dup")])
    q.add([("d1", "replaced words here")], on_duplicate="replace")
    assert len(q) == 10 and q.search("replaced words here", top_k=1)[0].id == "d1"
    q.delete(["d1"])
    assert len(q) == 9
    c.close()
    # reopen from disk: the spec came back from the collection metadata
    c2 = qdrant_client.QdrantClient(path=path)
    again = QdrantStore.open(c2, "docs", hash_embedder)
    assert again.spec.model == "hash-embedder" and again.spec.dim == 64 and len(again) == 9
    hits = Retriever(hash_embedder, again).search("football goal match team item2", top_k=3)
    assert hits[0].id == "d2"
    with pytest.raises(IndexMismatchError, match="gives different vectors"):
        QdrantStore.open(c2, "docs", hash_embedder_cls(width=64, seed=3))
    c2.close()


def test_chunked_documents_come_back_once(client, tiny_embedder):
    from q3embed.stores import ChunkingConfig

    q = QdrantStore.create(client, "chunks", tiny_embedder, chunking=ChunkingConfig(tokens=16, overlap=4))
    long_doc = " ".join(f"line {i} about rivers." for i in range(40))
    q.add([("long", long_doc), ("short", "mountains")])
    hits = q.search("rivers", top_k=5)
    assert sorted(h.id for h in hits) == ["long", "short"]


def test_cli_copies_an_index_into_a_local_collection(tmp_path, small_docs, hash_embedder):
    from q3embed.cli import main

    local = Index.build(tmp_path / "idx", small_docs, hash_embedder)
    qpath = tmp_path / "qdrant"
    assert main(["index", "to-qdrant", str(local.root), "--collection", "c", "--path", str(qpath)]) == 0
    c = qdrant_client.QdrantClient(path=str(qpath))
    q = QdrantStore.open(c, "c")
    assert len(q) == 60 and q.spec == local.spec
    c.close()


def test_store_urls_open_a_local_mode_folder_and_bad_ones_say_what_is_accepted(tmp_path, small_docs, hash_embedder):
    from q3embed.stores import IndexNotFoundError, StoreExistsError
    from q3embed.stores.open import build_store, create_store, is_store_url, open_store

    url = f"qdrant://{tmp_path / 'qd'}?collection=docs"
    assert url.startswith("qdrant:///") and is_store_url(url)
    with pytest.raises(IndexNotFoundError, match="no Qdrant collection 'docs'"):
        open_store(url)
    store = build_store(url, small_docs[:8], hash_embedder)
    assert store.count() == 8 and not store.interrupted and str(tmp_path) in store.location
    store.close()
    with pytest.raises(StoreExistsError, match="already exists"):
        create_store(url, hash_embedder)
    again = open_store(url, hash_embedder)
    assert again.search("cooking bread oven flour item7", top_k=1)[0].id == "d7"
    again.close()
    from q3embed.cli import main

    assert main(["index", "info", "--store", url, "--verify", "--json"]) == 0  # the CLI reads it by URL too
    for bad in ("qdrant://host:6333", "qdrant://host?collection=a b", "qdrant://?collection=x"):
        with pytest.raises(ValueError, match="qdrant://host"):
            open_store(bad)


def test_a_shorter_version_killed_before_its_cleanup_is_not_whole(client, hash_embedder):
    """Qdrant upserts a new version, then deletes the old version's extra chunks: a kill in between leaves
    both. whole_ids must not count that document, so a resumed build redoes it."""
    store = QdrantStore.create(client, "docs", hash_embedder)
    old = [{"id": "x", "chunk": c, "n_chunks": 3, "start": 0, "end": 1, "text": f"old {c}"} for c in range(3)]
    new = [{"id": "x", "chunk": 0, "n_chunks": 1, "start": 0, "end": 3, "text": "new"}]
    store._upsert(old, hash_embedder.encode_documents([r["text"] for r in old]))
    store._upsert(new, hash_embedder.encode_documents(["new"]))  # killed here, before the cleanup
    assert store.whole_ids() == set() and store.partial_documents() == ["x"]
    assert store.add_records(new, hash_embedder.encode_documents(["new"]), on_duplicate="skip") == 1
    assert store.whole_ids() == {"x"} and store.stored_chunks(["x"]) == {"x": [0]}


def test_an_unreachable_qdrant_server_is_one_clear_error():
    from q3embed.stores import StoreUnavailableError
    from q3embed.stores.open import open_store

    # Port 9 (discard) is closed here: the client's connection error becomes the store's own error.
    with pytest.raises(StoreUnavailableError, match=r"cannot reach Qdrant at http://127\.0\.0\.1:9"):
        open_store("qdrant://127.0.0.1:9?collection=docs")
