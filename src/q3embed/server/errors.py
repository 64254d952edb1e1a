"""HTTP errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every 4xx names what was wrong and what is accepted; the official clients show ``message``.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import ValidationError

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          408: "timeout_error", 413: "request_too_large", 422: "invalid_request_error", 429: "rate_limit_error",
          431: "request_too_large",
          503: "service_unavailable"}


class APIError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.param, self.code, self.headers)


def error_response(status: int, message: str, param: str | None = None, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    param = None if param is None else encodable(param)
    body = {"error": {"message": encodable(message), "type": _TYPES.get(status, "server_error"), "param": param,
                      "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def encodable(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold (lone surrogates) written as ``\\udXXX`` escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def validation_error(e: ValidationError, accepted: dict[str, str] | None = None) -> APIError:
    """422 naming each bad field (``input``, ``documents.3.text``) and what it accepts.

    ``accepted`` maps a top-level field to a plain description; it replaces pydantic's
    one-message-per-union-branch output, which names Python types rather than JSON ones.
    """
    accepted = accepted or {}
    problems: dict[str, str] = {}
    for err in e.errors(include_url=False):
        loc = [str(p) for p in err["loc"]]
        field = loc[0] if loc else "body"
        if field in accepted:
            problems.setdefault(field, f"{field}: {_got(err)}; accepted: {accepted[field]}")
        else:
            where = encodable(".".join(loc)) or "body"
            problems.setdefault(where, f"{where}: {err['msg']}")
    items = list(problems.values())
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    first = next(iter(problems)).split(".")[0] if problems else None
    return APIError(422, "invalid request: " + "; ".join(items[:5]) + more, param=first, code="validation_error")


def _got(err: dict) -> str:
    if err["type"] == "missing":
        return "missing"
    value = err.get("input")
    kind = {"NoneType": "null", "str": "string", "int": "integer", "float": "number", "bool": "boolean",
            "list": "list", "dict": "object"}.get(type(value).__name__, type(value).__name__)
    return f"got {kind} {encodable(str(value)[:40])}"  # a client's raw value may hold lone surrogates
