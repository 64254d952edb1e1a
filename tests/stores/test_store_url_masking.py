"""No message echoes a credential from a store URL: the userinfo password, ``password`` and
``sslpassword`` parameters, a Qdrant ``api_key``. Checked on the real errors (a real PostgreSQL,
an unreachable server) and through the CLI, where a user sees them."""

from __future__ import annotations

import pytest

from q3embed.stores import IndexNotFoundError, StoreUnavailableError
from q3embed.stores.urls import masked_url

SECRETS = ("pw-in-userinfo", "pw-in-query", "ssl-pw-in-query", "qdrant-key-in-query")


@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:pw-in-userinfo@db:5432/rag?collection=c", "postgresql://me:***@db:5432/rag?collection=c"),
    ("postgresql://me@db/rag?collection=c&password=pw-in-query", "postgresql://me@db/rag?collection=c&password=***"),
    ("postgres://db/rag?sslpassword=ssl-pw-in-query&sslmode=verify-full&collection=c",
     "postgres://db/rag?sslpassword=***&sslmode=verify-full&collection=c"),
    ("postgresql://db/rag?PASSWORD=pw-in-query&collection=c", "postgresql://db/rag?PASSWORD=***&collection=c"),
    ("postgresql://me:p@w-in-userinfo@db/rag?collection=c", "postgresql://me:***@db/rag?collection=c"),
    ("postgresql://me:p/w-in-userinfo@db/rag", "postgresql://me:***@db/rag"),
    ("qdrant://qd:6333?collection=c&api_key=qdrant-key-in-query", "qdrant://qd:6333?collection=c&api_key=***"),
    ("qdrant:///data/qd?collection=c", "qdrant:///data/qd?collection=c"),
    ("postgresql://me@db/rag?collection=c&application_name=a@b", "postgresql://me@db/rag?collection=c&application_name=a@b"),
])
def test_masked_url_hides_every_credential_and_keeps_the_rest(url, shown):
    assert masked_url(url) == shown


def _no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} leaked in: {text}"


def _cli_error(argv, capsys) -> str:
    from q3embed.cli import main

    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


UNREACHABLE = ["postgresql://me:pw-in-userinfo@127.0.0.1:1/db?collection=x",
               "postgresql://me@127.0.0.1:1/db?collection=x&password=pw-in-query",
               "postgresql://me@127.0.0.1:1/db?collection=x&sslpassword=ssl-pw-in-query"]


@pytest.mark.parametrize("url", UNREACHABLE)
def test_cannot_reach_postgresql_masks_the_url(url, capsys):
    pytest.importorskip("psycopg")
    from q3embed.stores.pgvector import PgVectorStore

    with pytest.raises(StoreUnavailableError, match="cannot reach PostgreSQL") as e:
        PgVectorStore.open(url)
    _no_secret(str(e.value))
    assert "***" in str(e.value)
    _no_secret(_cli_error(["index", "info", "--store", url], capsys))


@pytest.mark.parametrize("form", ["userinfo", "password", "sslpassword"])
def test_no_collection_at_masks_the_url(pg_server, form, capsys):
    pytest.importorskip("pgvector")
    from q3embed.stores.pgvector import PgVectorStore

    uri = pg_server.get_uri()  # postgresql://postgres:@/postgres?host=...: trust auth ignores a password
    scheme, rest = uri.split("://", 1)
    sep = "&" if "?" in uri else "?"
    url = {"userinfo": f"{scheme}://postgres:pw-in-userinfo@{rest.split('@', 1)[1]}{sep}collection=nothing_here",
           "password": f"{uri}{sep}collection=nothing_here&password=pw-in-query",
           "sslpassword": f"{uri}{sep}collection=nothing_here&sslpassword=ssl-pw-in-query"}[form]
    with pytest.raises(IndexNotFoundError, match="no collection at") as e:
        PgVectorStore.open(url)
    _no_secret(str(e.value))
    assert "***" in str(e.value)
    _no_secret(_cli_error(["index", "info", "--store", url], capsys))
    bad_name = url.replace("collection=nothing_here", "collection=Bad-Name")
    _no_secret(_cli_error(["index", "info", "--store", bad_name], capsys))


def test_qdrant_api_key_in_the_url_is_used_and_never_shown(capsys):
    pytest.importorskip("qdrant_client")
    from q3embed.stores.qdrant import open_qdrant, qdrant_client

    client, _, where = qdrant_client("qdrant://127.0.0.1:1?collection=c&api_key=qdrant-key-in-query")
    try:
        assert client._client._rest_headers["api-key"] == "qdrant-key-in-query"  # honoured, like QDRANT_API_KEY
    finally:
        client.close()
    _no_secret(where)
    with pytest.raises(ValueError, match="must be qdrant://") as e:
        qdrant_client("qdrant://127.0.0.1:1?collection=Bad Name&api_key=qdrant-key-in-query")
    _no_secret(str(e.value))
    with pytest.raises(StoreUnavailableError, match="cannot reach Qdrant") as e:
        open_qdrant("qdrant://127.0.0.1:1?collection=c&api_key=qdrant-key-in-query")
    _no_secret(str(e.value))
    _no_secret(_cli_error(["index", "info", "--store", "qdrant://127.0.0.1:1?collection=c&api_key=qdrant-key-in-query"],
                          capsys))
