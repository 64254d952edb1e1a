"""Read a request body with a size limit, then decode it: UTF-8, JSON, and a pydantic model.

Checks run before pydantic sees the data, because they would otherwise end in a 500 (and a
reset keep-alive connection) or in two readers disagreeing about what was sent:
- nesting deeper than ``MAX_JSON_DEPTH`` (Python's JSON parser recurses, so ``[[[[...]]]]``
  a few thousand deep raises ``RecursionError``), checked on the raw bytes before parsing;
- integers longer than ``MAX_INT_DIGITS`` (Python refuses to convert more than 4,300 digits, and
  converting is quadratic below that), and numbers that are not finite (``NaN``, ``Infinity``,
  ``1e999``: not JSON by RFC 8259, and no field here has a use for them), anywhere in the body;
- a key that appears twice in one object (parsers disagree on which value wins; a proxy that
  checked the first one would be fooled by a server that uses the last);
- lone UTF-16 surrogates (``"\\ud800"`` is valid JSON but not encodable text), anywhere in a key
  or a value, named by their path (``documents.3.text``);
- fields the endpoint does not know (a typo such as ``top-k`` would otherwise be ignored in silence).
"""

from __future__ import annotations

import json
import math
import re
from typing import TypeVar

import numpy as np
from fastapi import Request
from pydantic import BaseModel, ValidationError

from .errors import APIError, validation_error

M = TypeVar("M", bound=BaseModel)

# The deepest request is a rerank document's own fields: {"documents": [{"meta": {...}}]} is 3-4 levels.
# 64 leaves room for any real metadata and stays far below the parser's recursion limit (~1000).
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 100  # token ids, dimensions and counts have a few digits; 100 leaves room for any id
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # unrolled loop: linear, no backtracking blow-up


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; 413 as soon as it passes ``limit`` bytes (checked while streaming too)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise APIError(413, f"request body is {int(declared)} bytes; the limit is {limit} bytes", code="body_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise APIError(413, f"request body is over the limit of {limit} bytes", code="body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def json_depth(raw: bytes) -> int:
    """How deeply ``[`` and ``{`` nest in ``raw``, ignoring brackets inside strings (C speed, no recursion)."""
    skeleton = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    opens = (skeleton == ord("[")) | (skeleton == ord("{"))
    closes = (skeleton == ord("]")) | (skeleton == ord("}"))
    if not opens.any():
        return 0
    return int(np.cumsum(opens.astype(np.int64) - closes).max())


def find_surrogate(value, path: str = "") -> str | None:
    """The path (``input.2``, ``documents.0.text``) of the first string holding a lone surrogate, or None."""
    stack = [(path, value)]
    while stack:  # iterative: the depth check has bounded nesting, but a loop needs no bound at all
        where, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return where or "body"
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if not _encodable(key):
                    return f"{where}.<key>" if where else "<key>"
                stack.append((f"{where}.{key}" if where else key, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), child) for i, child in reversed(list(enumerate(item))))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def parse_body(request: Request, model: type[M], limit: int) -> M:
    """Body -> ``model``: 413 too large, 400 not UTF-8 / not JSON / too deep / not an object / lone surrogate,
    422 wrong fields."""
    raw = await read_body(request, limit)
    return decode_body(raw, model)


def decode_body(raw: bytes, model: type[M]) -> M:
    """The checks of ``parse_body`` on bytes already read."""
    if not raw.strip():
        raise APIError(400, "request body is empty; send a JSON object", code="empty_body")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise APIError(400, f"request body is not valid UTF-8 (byte {e.start}); send UTF-8 JSON",
                       code="invalid_encoding") from None
    depth = json_depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise APIError(400, f"request body nests {depth} levels deep; the limit is {MAX_JSON_DEPTH}",
                       code="invalid_json")
    try:
        data = json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant,
                          object_pairs_hook=_object_without_duplicates)
    except json.JSONDecodeError as e:
        raise APIError(400, f"request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}",
                       code="invalid_json") from None
    except ValueError as e:  # any other refusal of the parser: a client error, never a 500
        raise APIError(400, f"request body is not valid JSON: {e}"[:300], code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, f"request body must be a JSON object, got a JSON {type(data).__name__}",
                       code="invalid_json")
    bad = find_surrogate(data)
    if bad is not None:
        field = bad.split(".")[0]
        raise APIError(400, f"{bad} holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode text",
                       param=field, code="invalid_text")
    unknown = [key for key in data if key not in model.model_fields]
    if unknown:
        raise APIError(400, f"unknown field {unknown[0]!r}; accepted fields: {', '.join(model.model_fields)}",
                       param=unknown[0], code="unknown_field")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise validation_error(e, model.ACCEPTED) from None


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise APIError(400, f"request body holds a {len(digits.lstrip('-'))}-digit integer; integers have at most "
                            f"{MAX_INT_DIGITS} digits", code="invalid_json")
    return int(digits)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise APIError(400, f"request body holds the number {text[:40]}, which is out of range; numbers must be "
                            "finite", code="invalid_json")
    return value


def _refuse_constant(name: str):
    raise APIError(400, f"request body holds {name}, which is not JSON; numbers must be finite", code="invalid_json")


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise APIError(400, f"request body gives the key {twice!r} twice in one object; give each key once",
                       code="invalid_json")
    return data
