"""Ray ingestion gives the vectors a single process gives, into an index that holds every document once."""

from __future__ import annotations

import pytest

from q3embed.stores import Index

from ray_corpus import check_against_single_process, corpus_records, write_shards


def test_ray_vectors_equal_single_process_encode(ray_address, tmp_path, minilm_dir, minilm_embedder):
    from q3embed.distributed import RayBuildConfig, build_on_ray

    records = corpus_records(30)
    write_shards(tmp_path / "corpus", records, shards=3)
    config = RayBuildConfig(workers=2, docs_per_batch=8, part_rows=16)  # several parts and actor batches
    index = build_on_ray(tmp_path / "idx", tmp_path / "corpus", str(minilm_dir), config=config, device="cpu",
                         torch_dtype="float32", show_progress=False)
    assert len(index) == 30 and index.generation == 1  # empty create, then the one commit of all parts
    assert not (tmp_path / "idx.ray-parts").exists()
    check_against_single_process(index, records, minilm_embedder)
    # The index records the model, so a plain single-process reader accepts it and searches it.
    reopened = Index.open(tmp_path / "idx", minilm_embedder)
    hit = reopened.search(records[5]["title"], top_k=1)[0]
    assert hit.id == records[5]["_id"]


def test_parquet_corpus_and_chunking_match_the_single_process_build(ray_address, tmp_path, minilm_dir, minilm_embedder):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from q3embed.distributed import RayBuildConfig, build_on_ray

    records = corpus_records(12, offset=100)
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "corpus.parquet")
    index = build_on_ray(tmp_path / "idx", tmp_path / "corpus.parquet", str(minilm_dir),
                         config=RayBuildConfig(workers=1, docs_per_batch=5), device="cpu", torch_dtype="float32",
                         chunk_tokens=48, chunk_overlap=8, show_progress=False)
    single = Index.build(tmp_path / "single", records, minilm_embedder, chunk_tokens=48, chunk_overlap=8)
    assert index.num_chunks == single.num_chunks > len(records)  # documents were split
    ours = {(r["id"], r["chunk"]): (r["start"], r["end"]) for r in map(index.record, index.vectors()[0].tolist())}
    theirs = {(r["id"], r["chunk"]): (r["start"], r["end"]) for r in map(single.record, single.vectors()[0].tolist())}
    assert ours == theirs
    a = dict(zip([(index.record(int(r))["id"], index.record(int(r))["chunk"]) for r in index.vectors()[0]],
                  index.vectors()[1]))
    for r, v in zip(single.vectors()[0], single.vectors()[1]):
        rec = single.record(int(r))
        assert float(a[(rec["id"], rec["chunk"])] @ v) >= 0.99999


def test_bad_corpus_is_one_line_before_any_cluster(tmp_path, capsys):
    from q3embed.cli import main

    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.jsonl").write_text('{"id": "1", "text": "x"}\n')
    (tmp_path / "mixed" / "b.parquet").write_bytes(b"PAR1")
    for corpus, words in ((tmp_path / "missing.jsonl", "corpus not found"), (tmp_path / "mixed", "mixes corpus formats")):
        rc = main(["index", "build", "--model", "m", "--corpus", str(corpus), "--out", str(tmp_path / "i"), "--ray"])
        err = capsys.readouterr().err
        assert rc == 1 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
