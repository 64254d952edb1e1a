"""uvicorn for ``create_app``'s app: the h11 protocol with a request-head deadline and a head size limit.

uvicorn times out idle keep-alive connections, but a client that has sent part of a request
head is waited on for ever (uvicorn cancels its keep-alive timer on any byte). So a thousand
half-sent requests hold a thousand connections. ``HeadTimeoutH11Protocol`` closes a connection
whose request head is not complete within ``header_timeout_s`` of connecting, or of the first
byte of the next request on a kept-alive connection. The body has its own deadline, in the ASGI
layer (``guard.py``).
"""

from __future__ import annotations

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

GRACEFUL_SHUTDOWN_S = 30  # SIGTERM: requests still running after this are answered 503 (see guard.py)


class HeadTimeoutH11Protocol(H11Protocol):
    header_timeout_s = 10.0  # set per server by ``protocol_with_head_timeout``

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_timer = None
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_head_timer()  # a head has begun (or a connection opened) but is not complete yet
        else:
            self._disarm_head_timer()

    def connection_lost(self, exc) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:  # the deadline runs from the first byte, not the latest one
            self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():  # still no complete head
            self.transport.close()


def protocol_with_head_timeout(seconds: float) -> type[HeadTimeoutH11Protocol]:
    return type("HeadTimeoutH11Protocol", (HeadTimeoutH11Protocol,), {"header_timeout_s": float(seconds)})


def uvicorn_config(app, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
                   graceful_shutdown_s: float = GRACEFUL_SHUTDOWN_S):
    """The ``uvicorn.Config`` to serve ``app`` (from ``create_app``) with its settings' connection limits."""
    import uvicorn

    settings = app.state.q3.settings
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol_with_head_timeout(
        settings.header_timeout_s), h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_graceful_shutdown=graceful_shutdown_s)
