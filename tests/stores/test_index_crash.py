"""Crash safety: SIGKILL a child process in the middle of an add, then reopen and check integrity.

The child embeds with the model-free HashEmbedder, so every stored vector can be checked
against the vector its text must have: a half-written row cannot hide.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from q3embed.stores import Index

CHILD = textwrap.dedent("""
    import os, signal, sys, importlib.util
    spec = importlib.util.spec_from_file_location("hash_embedder", {embedder_path!r})
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    import q3embed.stores.local_index as local_index
    import q3embed.stores.store as store
    from q3embed.stores import Index

    where = sys.argv[1]
    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before-manifest":          # segment files complete, manifest not yet replaced
        local_index.commit_manifest = lambda root, manifest: die()
    elif where == "mid-manifest":           # half of the new manifest written to its temp file
        def half_manifest(path, data):
            with open(path.with_name("." + path.name + ".tmp"), "wb") as f:
                f.write(data[: len(data) // 2]); f.flush(); os.fsync(f.fileno())
            die()
        store.write_atomic = half_manifest
    elif where == "before-lexical":         # vector files written, the lexical rows not yet
        local_index.LexicalIndex.write = lambda *a, **k: die()
    elif where == "after-lexical":          # lexical rows committed in tantivy, manifest not yet replaced
        real_write = local_index.LexicalIndex.write
        def write_then_die(self, *a, **k):
            real_write(self, *a, **k); die()
        local_index.LexicalIndex.write = write_then_die
    elif where == "mid-segment":            # a vectors file half written
        real = store._npy_bytes
        def half_segment(array):
            data = real(array)
            with open(os.path.join(sys.argv[2], "segments", "seg-999999.vectors.npy.tmp"), "wb") as f:
                f.write(data[: len(data) // 2])
            die()
        store._npy_bytes = half_segment

    index = Index.open(sys.argv[2], mod.HashEmbedder(width=32))
    docs = [(f"n{{i}}", f"new document number {{i}} about topic {{i % 7}}") for i in range(int(sys.argv[3]))]
    index.add(docs, commit_every=int(sys.argv[4]))
    print("finished", flush=True)
""")


@pytest.fixture
def base_index(tmp_path, hash_embedder_cls, doc_maker):
    return Index.build(tmp_path / "idx", doc_maker(30), hash_embedder_cls(width=32))


def _child(tmp_path, where, root, n_docs, commit_every, **kw):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(embedder_path=str(kw.pop("embedder_path"))))
    return subprocess.Popen([sys.executable, str(script), where, str(root), str(n_docs), str(commit_every)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_integrity(root, hash_embedder_cls, n_before):
    """Reopen with full checksums; every stored vector must be exactly its text's vector."""
    emb = hash_embedder_cls(width=32)
    index = Index.open(root, emb, verify=True)
    rows, vectors = index.vectors()
    texts = [index.record(int(r))["text"] for r in rows]
    np.testing.assert_allclose(vectors, emb.encode_documents(texts), atol=1e-6)
    assert len(index) >= n_before
    hits = index.search("new document number 3", top_k=3)
    assert hits, "the reopened index must answer searches"
    # the lexical side shows exactly the committed documents: none the killed writer left behind
    lexical = index.search("new document number 3 topic", top_k=100, mode="lexical")
    assert {h.id for h in lexical} <= set(index.ids())
    assert {h.id for h in lexical if h.id.startswith("n")} == {d for d in index.ids() if d.startswith("n")}
    return index


@pytest.mark.parametrize("where", ["before-manifest", "mid-manifest", "mid-segment", "before-lexical", "after-lexical"])
def test_kill_at_each_step_of_a_commit_leaves_the_last_commit(tmp_path, base_index, hash_embedder_cls, where,
                                                              hash_embedder_path):
    gen = base_index.generation
    proc = _child(tmp_path, where, base_index.root, 10, 100, embedder_path=hash_embedder_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err
    index = _check_integrity(base_index.root, hash_embedder_cls, 30)
    assert index.generation == gen and len(index) == 30  # exactly the state before the add
    # the next writer clears the debris and commits normally (the kernel released the dead writer's lock)
    index.add([("after", "written after the crash")])
    assert len(index) == 31
    assert [h.id for h in index.search("written after the crash", top_k=3, mode="lexical")] == ["after"]
    assert not index.search("new document number", top_k=3, mode="lexical")  # the killed add left no rows
    Index.open(base_index.root, verify=True)  # vectors and lexical rows agree segment by segment
    names = {p.name for p in (base_index.root / "segments").iterdir()}
    committed = {m["path"].split("/")[1] for s in index.manifest.segments for m in s.files.values()}
    assert names == committed
    assert not (base_index.root / ".manifest.json.tmp").exists()


def test_sigkill_from_outside_mid_add_keeps_whole_commits(tmp_path, base_index, hash_embedder_cls, hash_embedder_path):
    """Kill a child that commits every 5 documents at a time it does not choose; repeat from the survivor."""
    root = base_index.root
    before = len(base_index)
    partial = 0
    for delay in (0.0, 0.05):
        manifest = root / "manifest.json"
        mtime = manifest.stat().st_mtime_ns
        proc = _child(tmp_path, "none", root, 60, 5, embedder_path=hash_embedder_path)
        deadline = time.time() + 120
        while manifest.stat().st_mtime_ns == mtime and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)  # wait until the child is committing, then kill it mid-stream
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        index = _check_integrity(root, hash_embedder_cls, before)
        added = len(index) - before
        assert added % 5 == 0 and added <= 60, added
        partial += added < 60  # only whole commits of 5 documents are visible
        ids = set(index.ids())
        assert {f"n{i}" for i in range(added)} <= ids  # and they are a prefix of the add, in order
        if added:
            index.delete([f"n{i}" for i in range(added)])  # reset for the next round
    assert partial, "no kill landed in the middle of the add"


BUILD_CHILD = textwrap.dedent("""
    import os, signal, sys, importlib.util
    spec = importlib.util.spec_from_file_location("hash_embedder", {embedder_path!r})
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    import q3embed.stores.local_index as local_index
    from q3embed.stores import Index

    root, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "resume"
    kill_in = sys.argv[4]  # "manifest": before a commit; "lexical": between its vector and lexical writes
    import q3embed.stores.ingest as ingest
    ingest.ENCODE_STEP = 2  # encode steps of 2 chunks end inside 3-chunk documents
    real = local_index.commit_manifest
    calls = [0]
    def counting(r, m):
        calls[0] += 1
        if calls[0] == kill_at:   # after kill_at - 1 commits: a chunk boundary between two commits
            os.kill(os.getpid(), signal.SIGKILL)
        real(r, m)
    real_lexical = local_index.LexicalIndex.write
    lexical_calls = [0]
    def lexical_counting(self, *a, **k):
        lexical_calls[0] += 1
        if lexical_calls[0] == kill_at:   # this commit's vector files are written, its lexical rows are not
            os.kill(os.getpid(), signal.SIGKILL)
        real_lexical(self, *a, **k)
    if kill_in == "manifest":
        local_index.commit_manifest = counting
    else:
        local_index.LexicalIndex.write = lexical_counting
    docs = [(f"c{{i}}", " ".join(f"w{{i}}x{{j}} topic{{i % 3}}" for j in range(5))) for i in range(12)]
    Index.build(root, docs, mod.HashEmbedder(width=32, words=True), chunk_tokens=4, commit_every=2,
                resume=resume)
    print("finished", flush=True)
""")


@pytest.mark.parametrize("kill_at,kill_in", [(3, "manifest"), (5, "manifest"), (8, "manifest"), (3, "lexical")])
def test_kill_between_commits_of_chunked_documents_then_resume(tmp_path, hash_embedder_cls, hash_embedder_path,
                                                               kill_at, kill_in, capsys):
    """Each 3-chunk document is committed whole; the killed build says so; --resume gives each once, in the
    vectors and in the lexical index (also when the kill falls between a commit's vector and lexical writes)."""
    from q3embed.cli import main

    script = tmp_path / "build.py"
    script.write_text(BUILD_CHILD.format(embedder_path=str(hash_embedder_path)))
    root = tmp_path / "idx"
    proc = subprocess.run([sys.executable, str(script), str(root), str(kill_at), "new", kill_in], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    index = Index.open(root, hash_embedder_cls(width=32, words=True), verify=True)
    assert index.interrupted
    assert 0 < len(index) < 12
    assert index.partial_documents() == []
    assert all(sorted(c["chunk"] for c in index.chunks(d)) == [0, 1, 2] for d in index.ids())
    assert main(["index", "info", str(root)]) == 0
    assert "--resume" in capsys.readouterr().err
    proc = subprocess.run([sys.executable, str(script), str(root), "0", "resume", kill_in], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    index = Index.open(root, verify=True)
    assert not index.interrupted and len(index) == 12 and index.num_chunks == 36
    rows = [index.record(int(r)) for r in index.vectors()[0]]
    assert sorted((r["id"], r["chunk"]) for r in rows) == sorted({(r["id"], r["chunk"]) for r in rows})  # once each
    for i in range(12):  # every document's own words find it, and only it, in the lexical index
        hits = index.search(f"w{i}x0 w{i}x4", top_k=3, mode="lexical")
        assert [h.id for h in hits][:1] == [f"c{i}"] and all(h.id == f"c{i}" for h in hits)
