"""What ``/openapi.json`` says about request bodies and errors.

The POST routes read their body themselves (``body.py``: size limit, depth limit, one error
shape), so FastAPI cannot see their models. Each route declares its model here instead, and
every route declares the error shape, so that clients generated from the schema, and the
schema-driven fuzz test, reach every field.
"""

from __future__ import annotations

from pydantic import BaseModel

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                       "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}},
    }},
}
_ERROR = {"content": {"application/json": {"schema": ERROR_SCHEMA}}}
ERROR_RESPONSES = {status: {"description": text, **_ERROR} for status, text in (
    (400, "bad input: not JSON, a wrong value"), (401, "missing or wrong API key"),
    (404, "no such model or route"), (405, "method not allowed"), (408, "body not received in time"),
    (413, "body, items or text over a limit"), (422, "a field has the wrong type or is unknown"),
    (429, "queue full; retry after Retry-After"), (503, "no index loaded, or shutting down"))}


def body_schema(model: type[BaseModel]) -> dict:
    """``openapi_extra`` for a route whose JSON body is ``model``: the model's JSON schema, inlined."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _inline(schema, defs)}}}}


def _inline(node, defs: dict):
    """``node`` with every ``{"$ref": "#/$defs/X"}`` replaced by X (request models are not recursive)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node
