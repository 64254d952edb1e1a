"""Ray ingestion straight into a database store, pgvector and Qdrant: the vectors a single process gives,
each document once, and a build that a killed driver left unfinished completed by the same call.
Checked through the ``VectorStore`` contract only, so both stores are held to the same rule.

Each case is one Ray build (an actor start costs seconds): pgvector starts from nothing (the store is
created from the model card the cluster computes); Qdrant starts from what a killed driver leaves, a
store marked building that holds some whole documents, which the build must skip."""

from __future__ import annotations

import pytest
from pg_urls import store_url
from ray_corpus import corpus_records, write_shards

N_DOCS = 24
SENTINEL = "written by the killed run"  # the stored text of a document the resumed build must not redo


@pytest.fixture(params=["pgvector", "qdrant"])
def target(request, tmp_path):
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client")
        return request.param, f"qdrant://{tmp_path / 'qdrant'}?collection=ray_ingest"  # local mode in a folder
    return request.param, store_url(request.getfixturevalue("pg_server"), "ray_ingest")


def test_ray_into_a_store_equals_single_process_every_id_once(ray_address, target, tmp_path, minilm_dir,
                                                              minilm_embedder):
    from q3embed.distributed import RayBuildConfig, build_on_ray
    from q3embed.data import read_corpus
    from q3embed.stores.open import create_store

    kind, url = target
    records = corpus_records(N_DOCS, offset=2000)
    write_shards(tmp_path / "corpus", records, shards=2)
    docs = read_corpus(records)
    ids, texts = [d.id for d in docs], {d.id: d.text for d in docs}
    ref = minilm_embedder.encode_documents([texts[i] for i in ids])  # (N_DOCS, 384) the single-process vectors
    done = ids[:5]
    if kind == "qdrant":  # what a driver killed after its first writes leaves behind
        store = create_store(url, minilm_embedder, building=True)
        store.add_records([{"id": i, "text": SENTINEL} for i in done], ref[:5], on_duplicate="skip")
        store.close()

    def build():
        return build_on_ray(url, tmp_path / "corpus", str(minilm_dir), device="cpu", torch_dtype="float32",
                            config=RayBuildConfig(workers=1, docs_per_batch=6, part_rows=6),  # several writes
                            show_progress=False)

    store = build()
    assert store.count() == N_DOCS and not store.interrupted
    assert store.whole_ids() == set(ids)
    assert store.stored_chunks(ids) == {i: [0] for i in ids}  # every id once, one row each
    # Each stored vector equals the single-process one: searched with the reference vector, its document
    # comes first with inner product (= cosine, both are unit vectors) >= 0.99999.
    for i, hits in zip(ids, store.search(ref, top_k=1)):
        assert hits[0].id == i and hits[0].score >= 0.99999, (i, hits[0])
        assert hits[0].text == (SENTINEL if kind == "qdrant" and i in done else texts[i])  # skipped, not redone
    store.close()
    with pytest.raises(FileExistsError, match="already exists"):  # finished: the same call refuses to redo it
        build()
