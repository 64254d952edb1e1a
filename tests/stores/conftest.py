"""Fixtures for index tests: a model-free embedder and a small corpus."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HASH_EMBEDDER_PATH = Path(__file__).with_name("hash_embedder.py")


def load_hash_embedder_module():
    spec = importlib.util.spec_from_file_location("index_hash_embedder", HASH_EMBEDDER_PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def hash_embedder_cls():
    return load_hash_embedder_module().HashEmbedder


@pytest.fixture(scope="session")
def hash_embedder_path():
    return HASH_EMBEDDER_PATH


@pytest.fixture
def hash_embedder(hash_embedder_cls):
    return hash_embedder_cls(width=64)


TOPICS = ["astronomy stars galaxy telescope", "cooking bread oven flour", "football goal match team",
          "finance bank interest loan", "music guitar chord melody", "biology cell protein gene"]


def make_docs(n: int, prefix: str = "d") -> list[tuple[str, str]]:
    """(id, text) pairs: each document mixes one topic's words with a unique token."""
    return [(f"{prefix}{i}", f"{TOPICS[i % len(TOPICS)]} item{i} {prefix}") for i in range(n)]


@pytest.fixture
def small_docs():
    return make_docs(60)


@pytest.fixture
def doc_maker():
    return make_docs


_pg_collections = iter(range(10**6))


@pytest.fixture
def pg_url(pg_server):
    """A store URL for a fresh collection name on the session's server."""
    uri = pg_server.get_uri()
    sep = "&" if "?" in uri else "?"
    return f"{uri}{sep}collection=c{next(_pg_collections)}"
