"""What the index promises: whole documents per commit, one writer (overwrite included), fresh readers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from q3embed.stores import Index, IndexBusyError
from q3embed.stores import ingest, local_index
from q3embed.stores.store import SegmentEntry, commit_manifest, read_manifest, write_segment


def long_docs(n: int, words: int = 10, prefix: str = "c") -> list[tuple[str, str]]:
    """Documents of ``words`` words: with 4-word chunks and overlap 0, each has ceil(words / 4) chunks."""
    return [(f"{prefix}{i}", " ".join(f"w{i}x{j} topic{i % 3}" for j in range(words // 2))) for i in range(n)]


@pytest.fixture
def word_embedder(hash_embedder_cls):
    return hash_embedder_cls(width=32, words=True)


def _segments_hold_whole_documents(index: Index) -> None:
    for seg in index.segments:
        for rows in _group(seg.rows).values():
            assert sorted(r["chunk"] for r in rows) == list(range(rows[0]["n_chunks"])), rows[0]["id"]


def _group(rows):
    out = {}
    for r in rows:
        out.setdefault(r["id"], []).append(r)
    return out


@pytest.mark.parametrize("commit_every", [1, 2, 5, 7])
def test_every_commit_holds_whole_documents(tmp_path, word_embedder, commit_every, monkeypatch):
    monkeypatch.setattr(ingest, "ENCODE_STEP", 2)  # steps end inside documents
    index = Index.build(tmp_path / "idx", long_docs(9), word_embedder, chunk_tokens=4, commit_every=commit_every)
    assert index.num_chunks == 9 * 3 and len(index) == 9
    assert len(index.segments) > 1
    _segments_hold_whole_documents(index)
    assert index.partial_documents() == []


def test_replace_deletes_the_old_version_in_the_commit_that_adds_the_new(tmp_path, word_embedder, monkeypatch):
    monkeypatch.setattr(ingest, "ENCODE_STEP", 2)
    index = Index.build(tmp_path / "idx", long_docs(4), word_embedder, chunk_tokens=4)
    seen = []
    real = index._commit_segment

    def spy(vectors, rows, replaced):  # every commit of the add goes through here
        seen.append(({r["id"] for r in rows}, set(replaced)))
        real(vectors, rows, replaced)

    monkeypatch.setattr(index, "_commit_segment", spy)
    index.add(long_docs(4, words=12), on_duplicate="replace", commit_every=3)
    assert len(seen) > 1
    for written, deleted in seen:
        assert deleted <= written  # a replaced document is never absent between commits
    assert index.num_chunks == 4 * 3 and index.partial_documents() == []


def _store_partial_document(root, embedder):
    """What an older version could leave: c1 holds chunk 0 of its 3 chunks, without n_chunks."""
    m = read_manifest(root)
    rows = [{"id": "c1", "chunk": 0, "start": 0, "end": 5, "text": "w1x0 topic1 w1x1"}]
    vec = embedder.encode_documents([rows[0]["text"]])
    m.segments.append(write_segment(root, f"seg-{m.next_segment:06d}", vec, None, rows))
    m.generation += 1
    m.next_segment += 1
    commit_manifest(root, m)


def test_partial_documents_are_reported_and_repaired_by_skip_existing(tmp_path, word_embedder):
    index = Index.build(tmp_path / "idx", long_docs(1), word_embedder, chunk_tokens=4)  # c0 whole
    _store_partial_document(index.root, word_embedder)
    index.reload()
    assert "c1" in index and len(index.chunks("c1")) == 1
    # a gap is visible without the corpus; a missing tail of a legacy row only against it
    idx2 = Index.open(index.root, word_embedder)
    assert idx2.partial_documents() == []  # legacy row: chunk 0 of "1" is all the row can tell
    n = idx2.add(long_docs(3), on_duplicate="skip")
    assert n == 2  # c1 redone, c2 added, c0 kept
    assert [r["chunk"] for r in idx2.chunks("c1")] == [0, 1, 2]
    assert idx2.partial_documents() == [] and len(idx2) == 3 and idx2.num_chunks == 9


def test_verify_reports_a_document_with_missing_chunks(tmp_path, word_embedder, capsys):
    from q3embed.cli import main

    index = Index.build(tmp_path / "idx", long_docs(2), word_embedder, chunk_tokens=4)
    m = read_manifest(index.root)
    m.segments[0].deleted.append(1)  # drop c0's chunk 1: c0 now has chunks 0 and 2 of 3
    commit_manifest(index.root, m)
    assert Index.open(index.root).partial_documents() == ["c0"]
    assert main(["index", "info", str(index.root), "--verify"]) == 1
    err = capsys.readouterr().err
    assert "c0" in err and "--resume" in err and "--skip-existing" in err and "Traceback" not in err
    Index.open(index.root, word_embedder).add(long_docs(2), on_duplicate="skip")  # the repair --verify suggests
    assert main(["index", "info", str(index.root), "--verify"]) == 0


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from q3embed.stores.store import writer_lock
    with writer_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(60)
""")


def test_overwrite_takes_the_lock_before_touching_anything(tmp_path, hash_embedder_cls, doc_maker):
    emb = hash_embedder_cls(width=32)
    root = tmp_path / "idx"
    Index.build(root, doc_maker(20), emb)
    before = sorted(p.name for p in (root / "segments").iterdir())
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError):
            Index.build(root, doc_maker(5), emb, overwrite=True)
        with pytest.raises(IndexBusyError):
            Index.open(root, emb).add(doc_maker(3, prefix="new"))
        assert sorted(p.name for p in (root / "segments").iterdir()) == before  # nothing was removed
        assert len(Index.open(root)) == 20
    finally:
        holder.kill()
        holder.wait()
    assert len(Index.build(root, doc_maker(5), emb, overwrite=True)) == 5
    assert (root / ".lock").exists()


def test_writer_that_opened_before_an_overwrite_refuses_instead_of_reporting_success(tmp_path, hash_embedder_cls, doc_maker):
    emb = hash_embedder_cls(width=32)
    root = tmp_path / "idx"
    Index.build(root, doc_maker(20), emb)
    stale = Index.open(root, emb)
    Index.build(root, doc_maker(5), hash_embedder_cls(width=32, seed=1, name="other"), overwrite=True)
    with pytest.raises(Exception, match="replaced while this writer had it open"):
        stale.add(doc_maker(3, prefix="new"))
    assert len(Index.open(root)) == 5


def test_a_reader_sees_a_commit_on_its_next_search(tmp_path, hash_embedder_cls, doc_maker):
    emb = hash_embedder_cls(width=32)
    root = tmp_path / "idx"
    reader = Index.build(root, doc_maker(20), emb)
    writer = Index.open(root, emb)
    writer.add([("fresh", "zebra quasar xylophone")])
    t0 = time.perf_counter()
    hits = reader.search("zebra quasar xylophone", top_k=1)  # no reload call: the search notices
    assert hits[0].id == "fresh" and len(reader) == 21
    writer.delete(["fresh"])
    assert reader.search("zebra quasar xylophone", top_k=1)[0].id != "fresh"
    assert time.perf_counter() - t0 < 30  # generous: the point is "next search", not a poll period


def test_refresh_costs_one_stat_when_nothing_changed(tmp_path, hash_embedder_cls, doc_maker, monkeypatch):
    emb = hash_embedder_cls(width=32)
    index = Index.build(tmp_path / "idx", doc_maker(10), emb)
    calls = []
    monkeypatch.setattr(index, "reload", lambda: calls.append(1))
    index.search("bread", top_k=1)
    assert calls == []


def test_time_based_commits(tmp_path, word_embedder, monkeypatch):
    monkeypatch.setattr(ingest, "ENCODE_STEP", 3)
    index = Index.build(tmp_path / "idx", long_docs(6), word_embedder, chunk_tokens=4, commit_every=10_000,
                        commit_seconds=1e-9)
    assert len(index.segments) >= 4  # one commit per whole-document step despite the huge count
    _segments_hold_whole_documents(index)
    one = Index.build(tmp_path / "idx2", long_docs(6), word_embedder, chunk_tokens=4, commit_every=10_000,
                      commit_seconds=None)
    assert len(one.segments) == 1
    assert ingest.COMMIT_SECONDS <= 60


def test_server_sees_index_add(tmp_path, tiny_embedder, doc_maker):
    """A running server answers from the new commit on the first request after `index add`."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from q3embed.server.app import create_app
    from q3embed.stores import Retriever

    root = tmp_path / "idx"
    Index.build(root, doc_maker(20), tiny_embedder)
    app = create_app(embedder=tiny_embedder, retriever=Retriever(tiny_embedder, Index.open(root, tiny_embedder)))
    fresh = "zebra quasar xylophone nebula"
    with TestClient(app) as client:
        def ids():
            r = client.post("/v1/retrieve", json={"query": fresh, "top_k": 3})
            assert r.status_code == 200, r.text
            return [h["id"] for h in r.json()["results"]]

        assert "fresh" not in ids()
        Index.open(root, tiny_embedder).add([("fresh", fresh)])
        assert ids()[0] == "fresh"
