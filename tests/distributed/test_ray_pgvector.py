"""Ray ingestion straight into pgvector: the vectors a single process gives, each document once, and an
interrupted build finished by the same call."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import store_url
from ray_corpus import corpus_records, write_shards


def test_ray_into_pgvector_equals_single_process(ray_address, pg_server, tmp_path, minilm_dir, minilm_fp32):
    from q3embed.distributed import RayBuildConfig, build_on_ray
    from q3embed.stores import read_corpus

    url = store_url(pg_server, "ray_ingest")
    records = corpus_records(40, offset=2000)
    write_shards(tmp_path / "corpus", records, shards=2)
    config = RayBuildConfig(workers=2, docs_per_batch=8, part_rows=8)

    def build():
        return build_on_ray(url, tmp_path / "corpus", str(minilm_dir), config=config, device="cpu",
                            torch_dtype="float32", show_progress=False)

    store = build()
    assert store.count() == 40 and not store.interrupted
    # An interrupted build: some documents lost, the store still marked building. The same call finishes it.
    gone = [r["_id"] for r in records[:7]]
    store.delete(gone)
    store.set_building(True)
    store.close()
    store = build()
    assert store.count() == 40 and not store.interrupted
    rows = store.conn.execute(f"SELECT doc_id, embedding FROM {store._table} ORDER BY doc_id").fetchall()
    assert len(rows) == 40 and len({r[0] for r in rows}) == 40  # every id once
    texts = {d.id: d.text for d in read_corpus(records)}
    stored = np.stack([np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows])  # (40, 384)
    ref = minilm_fp32.encode_documents([texts[r[0]] for r in rows])
    cos = (stored * ref).sum(1) / (np.linalg.norm(stored, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.99999
    with pytest.raises(FileExistsError, match="already exists"):  # finished: the same call refuses to redo it
        build()
    store.close()
