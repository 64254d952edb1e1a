"""Server fixtures: apps over the session's tiny models, a live uvicorn server, a gate for batchers."""

from __future__ import annotations

import socket
import threading
import time

import pytest

API_KEY = "test-key-123"


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="module")
def app(tiny_embedder, tiny_reranker):
    from q3embed.server import ServerSettings, create_app

    app = create_app(tiny_embedder, tiny_reranker, settings=ServerSettings(max_items=64, max_queue=256,
                                                                           max_body_bytes=2 * 1024 * 1024))
    yield app
    app.state.q3.close()


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


class LiveServer:
    """uvicorn serving ``app`` on a free localhost port, in a thread of this process."""

    def __init__(self, app, config=None):
        """``config``: a ``uvicorn.Config`` for ``app``; default: the one ``q3embed serve`` uses (10 s grace)."""
        import uvicorn

        from q3embed.server.http import uvicorn_config

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free one, no race with other tests
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(config or uvicorn_config(app, log_level="warning", graceful_shutdown_s=10))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True  # what uvicorn's SIGTERM handler sets
        self.thread.join(30)


@pytest.fixture(scope="module")
def live_server(tiny_embedder, tiny_reranker):
    """A live server with auth on, as users would run it."""
    from q3embed.server import ServerSettings, create_app

    app = create_app(tiny_embedder, tiny_reranker, settings=ServerSettings(api_key=API_KEY))
    server = LiveServer(app).start()
    yield server
    server.stop()


@pytest.fixture
def start_server():
    """Start a LiveServer for an app; stopped at teardown."""
    servers: list[LiveServer] = []

    def start(app, config=None) -> LiveServer:
        servers.append(LiveServer(app, config).start())
        return servers[-1]

    yield start
    for s in servers:
        if s.thread.is_alive():
            s.stop()


class Gate:
    """Holds a batcher's worker inside its next forward pass until ``open()``: makes queueing deterministic."""

    def __init__(self, batcher):
        self.batcher = batcher
        self.inner = batcher.forward
        self.entered = threading.Event()
        self.released = threading.Event()
        self.batch_sizes: list[int] = []
        batcher.forward = self._forward

    def _forward(self, rows):
        self.entered.set()
        assert self.released.wait(30), "gate never opened"
        self.batch_sizes.append(len(rows))
        return self.inner(rows)

    def open(self) -> None:
        self.released.set()

    def restore(self) -> None:
        self.released.set()
        self.batcher.forward = self.inner


@pytest.fixture
def gate_factory():
    gates: list[Gate] = []

    def make(batcher) -> Gate:
        gates.append(Gate(batcher))
        return gates[-1]

    yield make
    for g in reversed(gates):
        g.restore()
