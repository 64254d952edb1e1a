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
