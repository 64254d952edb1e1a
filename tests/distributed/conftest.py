"""One local Ray cluster for the whole test run (it takes ~10 s to start here)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_address():
    """The GCS address of a 2-CPU local cluster; drivers in other processes join it with ``--ray ADDRESS``."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="session")
def minilm_fp32(minilm_dir):
    """MiniLM in fp32: the single-process reference the Ray vectors must equal."""
    from q3embed import Embedder

    return Embedder.load(minilm_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """A real PostgreSQL with pgvector from pgserver's binaries, in a temp folder (no network)."""
    pgserver = pytest.importorskip("pgserver")
    pytest.importorskip("psycopg")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set
        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    yield server
    server.cleanup()
