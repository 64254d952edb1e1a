"""pgvector on a real PostgreSQL (pgserver): errors a user can act on, kill -9 then the same
command again, HNSW recall, and every verb through --store. No mocks of the database."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from q3embed.stores import IndexBusyError, StoreUnavailableError

pytest.importorskip("psycopg")
pytest.importorskip("pgvector")


def _uri_for(pg_server, user: str, db: str, password: str | None = None, collection: str = "c") -> str:
    host = pg_server.get_uri().split("host=", 1)[1]
    auth = f"{user}:{password}" if password else user
    return f"postgresql://{auth}@/{db}?host={host}&collection={collection}"


def _cli_error(argv, capsys) -> str:
    from q3embed.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_unreachable_url_names_the_host(capsys):
    from q3embed.stores.pgvector import PgVectorStore

    url = "postgresql://me@127.0.0.1:1/db?collection=x"
    with pytest.raises(StoreUnavailableError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1:1"):
        PgVectorStore.open(url)
    assert "127.0.0.1:1" in _cli_error(["index", "info", "--store", url], capsys)
    assert "127.0.0.1:1" in _cli_error(["search", url, "a query"], capsys)


def test_bad_credentials_name_the_user_and_host(pg_server, capsys):
    from q3embed.stores.pgvector import PgVectorStore

    pg_server.psql("DO $$ BEGIN CREATE ROLE pwuser LOGIN PASSWORD 'right'; EXCEPTION WHEN duplicate_object THEN "
                   "NULL; END $$;")
    hba = pg_server.pgdata / "pg_hba.conf"
    if "pwuser" not in hba.read_text():
        hba.write_text("local all pwuser scram-sha-256\n" + hba.read_text())
        pg_server.psql("SELECT pg_reload_conf();")
    url = _uri_for(pg_server, "pwuser", "postgres", "wrong")
    with pytest.raises(StoreUnavailableError, match="refused the credentials for user 'pwuser'"):
        PgVectorStore.open(url)
    err = _cli_error(["index", "info", "--store", url], capsys)
    assert "pwuser" in err and "wrong" not in err  # the password is never echoed


def test_missing_extension_names_pgvector(pg_server, capsys):
    from q3embed.stores.pgvector import PgVectorStore

    pg_server.psql("DO $$ BEGIN CREATE ROLE plain LOGIN NOSUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; "
                   "END $$;")
    if "noext" not in pg_server.psql("SELECT datname FROM pg_database;"):
        pg_server.psql("CREATE DATABASE noext OWNER plain;")
    url = _uri_for(pg_server, "plain", "noext")
    with pytest.raises(StoreUnavailableError, match="lacks the pgvector extension"):
        PgVectorStore.open(url)
    assert "pgvector" in _cli_error(["index", "info", "--store", url], capsys)


def test_bad_url_and_missing_collection(pg_url, capsys):
    err = _cli_error(["index", "info", "--store", pg_url.split("collection=")[0] + "collection=Bad-Name"], capsys)
    assert "collection=NAME" in err
    assert "no collection" in _cli_error(["index", "info", "--store", pg_url], capsys)


def test_a_second_writer_is_busy(pg_url, hash_embedder, small_docs):
    from q3embed.stores.pgvector import PgVectorStore

    a = PgVectorStore.create(pg_url, hash_embedder)
    b = PgVectorStore.open(pg_url, hash_embedder)
    with a.writer():
        with pytest.raises(IndexBusyError, match="another process is writing"):
            b.add(small_docs[:3])
    assert b.add(small_docs[:3]) == 3
    a.close()
    b.close()


def test_hnsw_recall_against_exact(pg_url, hash_embedder, doc_maker):
    from q3embed.stores import AnnConfig
    from q3embed.stores.pgvector import PgVectorStore

    store = PgVectorStore.create(pg_url, hash_embedder)
    store.add(doc_maker(1500), commit_every=500)
    queries = hash_embedder.encode_queries([f"item{i} music guitar" for i in range(0, 1500, 15)])
    exact = store.search(queries, top_k=10)
    approx = store.search(queries, top_k=10, method="hnsw", tuning=AnnConfig(ef_search=100))
    recall = np.mean([len({h.id for h in a} & {h.id for h in e}) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.99, recall
    plan = store.conn.execute("EXPLAIN SELECT doc_id FROM q3e_" + store.collection +
                              " ORDER BY embedding <#> %s LIMIT 10", (queries[0],)).fetchall()
    assert "hnsw" in " ".join(r[0] for r in plan)  # the HNSW index exists and the planner uses it
    store.close()


SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from q3embed.engine import Embedder
    real = Embedder.encode_documents
    def slow(self, *a, **kw):
        time.sleep(0.1)  # so the parent's kill lands halfway
        return real(self, *a, **kw)
    Embedder.encode_documents = slow
    from q3embed.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow  # a model-backed build killed mid-way, then run again: minutes on two shared cores
def test_kill_9_halfway_then_the_same_command_gives_every_document_once(pg_url, tiny_embedding_dir, tmp_path):
    from q3embed.cli import main
    from q3embed.stores.pgvector import PgVectorStore

    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w") as f:
        for i in range(240):
            f.write(json.dumps({"_id": f"doc{i}", "title": "", "text": f"passage {i} about topic {i % 9}"}) + "\n")
    argv = ["index", "build", "--store", pg_url, "--corpus", str(corpus), "--model", str(tiny_embedding_dir),
            "--device", "cpu", "--commit-every", "16", "--batch-size", "8", "--resume"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, *argv], stderr=subprocess.PIPE, text=True)
    count, deadline = 0, time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        try:
            store = PgVectorStore.open(pg_url)
            count = store.count()
            store.close()
        except Exception:
            count = 0
        if count >= 48:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert 0 < count < 240, f"the kill did not land halfway ({count} documents)"
    store = PgVectorStore.open(pg_url)
    assert store.interrupted and 0 < store.count() < 240
    store.close()
    assert main(argv) == 0  # the same command again
    store = PgVectorStore.open(pg_url)
    rows = store.conn.execute(f"SELECT doc_id, count(*) FROM q3e_{store.collection} GROUP BY doc_id").fetchall()
    assert len(rows) == 240 and all(n == 1 for _, n in rows)  # every document exactly once
    assert not store.interrupted and store.partial_documents() == []
    store.close()


@pytest.mark.slow  # loads the tiny model once per verb
def test_every_verb_takes_a_store_url(pg_url, tiny_embedding_dir, tmp_path, capsys):
    from q3embed.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in
                              enumerate(["Paris is the capital of France.", "Bread is baked in an oven.",
                                         "The goalkeeper saved the penalty.", "Guitars have six strings."])))
    model = ["--model", str(tiny_embedding_dir), "--device", "cpu"]
    assert main(["index", "build", "--store", pg_url, "--corpus", str(corpus), *model]) == 0
    assert main(["index", "info", "--store", pg_url, "--verify", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["documents"] == 4 and not info["interrupted"] and info["partial_documents"] == []
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "d9", "text": "Rivers flow to the sea."}) + "\n")
    assert main(["index", "add", "--store", pg_url, str(more), *model]) == 0
    assert main(["index", "add", "--store", pg_url, str(more), *model]) == 1  # duplicate, refused
    assert main(["search", pg_url, "capital of France", "--top-k", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["hits"]) == 2
    assert main(["search", pg_url, "x", "--method", "funnel"]) == 1
    assert "accepted: exact, hnsw" in capsys.readouterr().err
    assert main(["index", "delete", "--store", pg_url, "d9"]) == 0
    assert main(["index", "delete", "--store", pg_url, "d9"]) == 1
    capsys.readouterr()
    assert main(["index", "build", "--store", pg_url, "--corpus", str(corpus), *model]) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "--resume" in err, err
