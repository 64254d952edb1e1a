"""Store URLs on the session's PostgreSQL (a module of its own: two conftest.py files share one module name)."""

from __future__ import annotations


def store_url(pg_server, collection: str) -> str:
    uri = pg_server.get_uri()
    return f"{uri}{'&' if '?' in uri else '?'}collection={collection}"
