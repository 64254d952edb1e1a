"""One HTTP request's life at the ASGI layer: body deadline, client hang-ups, shutdown past the grace period.

- **Body deadline.** The whole body must arrive within ``body_timeout_s`` of the request head;
  a client that stops half-way gets 408 and the connection is closed. (uvicorn's
  ``timeout_keep_alive`` only covers idle connections between requests.)
- **Client hang-ups.** A client that disconnects mid-body, or while its rows wait in a batcher,
  is no 500 and no traceback: the request task is cancelled, which cancels its batcher future,
  and the batcher drops rows whose future is cancelled. It is counted as 499 (nginx's "client
  closed request") in the metrics.
- **Shutdown.** uvicorn cancels requests still running after ``timeout_graceful_shutdown``; they
  are answered 503 + Retry-After (try another replica), not uvicorn's bare 500.
"""

from __future__ import annotations

import asyncio

from .errors import error_response

CLIENT_CLOSED = 499  # the status recorded for a request whose client left before the answer


class BodyTimeoutError(Exception):
    """The client did not send its whole body in time."""

    def __init__(self, seconds: float):
        super().__init__(f"request body not received within {seconds:g} s; send the whole body at once")


async def serve_guarded(app, scope, receive, send, body_timeout_s: float) -> int | None:
    """Run ``app`` for one HTTP request; returns ``CLIENT_CLOSED`` when the client left, else None."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + body_timeout_s
    state = {"body_done": False, "started": False, "complete": False, "client_gone": False}
    watcher: asyncio.Future | None = None

    async def watch_for_hang_up() -> None:
        # After the body, the next ASGI message is http.disconnect: when the client leaves, or once
        # the response is complete (which is not a hang-up).
        message = await receive()
        if message["type"] == "http.disconnect" and not state["complete"]:
            state["client_gone"] = True
            task.cancel()

    async def guarded_receive():
        nonlocal watcher
        if state["body_done"]:  # nothing more will come but the disconnect the watcher waits for
            await asyncio.shield(watcher)
            return {"type": "http.disconnect"}
        try:
            message = await asyncio.wait_for(receive(), timeout=max(deadline - loop.time(), 0.0))
        except asyncio.TimeoutError:
            raise BodyTimeoutError(body_timeout_s) from None
        if message["type"] == "http.disconnect":
            state["client_gone"] = True  # starlette raises ClientDisconnect; answered by nobody
        elif not message.get("more_body", False):
            state["body_done"] = True
            watcher = asyncio.ensure_future(watch_for_hang_up())
        return message

    async def guarded_send(message) -> None:
        if message["type"] == "http.response.start":
            state["started"] = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            state["complete"] = True  # before the send, so the watcher never mistakes the end for a hang-up
        await send(message)

    try:
        await app(scope, guarded_receive, guarded_send)
    except asyncio.CancelledError:
        task.uncancel()  # absorbed here: the request ends now, with the answer below (or none)
        if state["client_gone"]:
            return CLIENT_CLOSED
        if not state["started"]:  # uvicorn's graceful-shutdown timeout cancelled us
            response = error_response(503, "server is shutting down and this request ran past its grace period; "
                                           "retry on another replica", code="shutting_down",
                                      headers={"Retry-After": "1", "Connection": "close"})
            await response(scope, receive, send)
    finally:
        if watcher is not None:
            watcher.cancel()
    return CLIENT_CLOSED if state["client_gone"] else None
