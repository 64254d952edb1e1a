"""A store URL whose client package is not installed names the extra to install, in one line."""

import sys
import tomllib
from pathlib import Path

import pytest

from q3embed.cli import main


@pytest.mark.parametrize("module, argv, hint", [
    ("psycopg", ["index", "info", "--store", "postgresql://me@localhost/db?collection=c"], "q3embed[pgvector]"),
    ("pgvector.psycopg", ["index", "info", "--store", "postgresql://me@localhost/db?collection=c"],
     "q3embed[pgvector]"),
    ("qdrant_client", ["index", "info", "--store", "qdrant:///tmp/none?collection=c"], "q3embed[search]"),
    ("qdrant_client", ["index", "to-qdrant", "idx", "--collection", "c", "--path", "qd"], "q3embed[search]"),
])
def test_a_missing_store_client_gives_the_install_hint(module, argv, hint, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # import raises ModuleNotFoundError, as when not installed
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"pip install '{hint}'" in err and "unexpected" not in err and len(err.strip().splitlines()) == 1, err


def test_all_holds_the_store_clients():
    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    held = extras["all"][0].split("[")[1].rstrip("]").split(",")
    assert {"search", "pgvector"} <= set(held) and "ray" not in held
