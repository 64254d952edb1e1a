"""Parse and validate the LLM's JSON answers. Errors are typed so retries can count them."""

from __future__ import annotations

import json
import re

from .tasks import DIFFICULTIES, TaskSpec


class BadAnswer(Exception):
    """An answer to re-ask for; ``kind`` is 'bad_json' or 'bad_schema'."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def extract_json(text: str) -> dict:
    """The JSON object in an answer: bare, in a ``` fence, or after a <think> block (Qwen3)."""
    text = _THINK.sub("", text).strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise BadAnswer("bad_json", f"no JSON object in answer: {text[:120]!r}")
    try:
        obj = json.loads(text[start: end + 1])
    except json.JSONDecodeError as e:
        raise BadAnswer("bad_json", f"invalid JSON ({e.msg}): {text[:120]!r}") from None
    if not isinstance(obj, dict):
        raise BadAnswer("bad_json", "answer is JSON but not an object")
    return obj


def _norm_choice(value) -> str:
    return str(value).strip().lower().replace(" ", "_").replace("-", "_")


def validate_selection(obj: dict, candidates: list[str], spec: TaskSpec) -> tuple[str, str, str]:
    """Step 1 -> (persona, query_type, difficulty). Persona may be its number or its text."""
    persona = obj.get("persona")
    chosen = None
    if isinstance(persona, bool):
        persona = None
    if isinstance(persona, (int, float)) or (isinstance(persona, str) and persona.strip().isdigit()):
        i = int(persona)
        chosen = candidates[i - 1] if 1 <= i <= len(candidates) else None
    elif isinstance(persona, str):
        by_text = {c.strip().lower(): c for c in candidates}
        chosen = by_text.get(persona.strip().lower())
    if chosen is None:
        raise BadAnswer("bad_schema", f"'persona' must be a number 1..{len(candidates)} or a candidate's text, got {persona!r}")
    qtype = _norm_choice(obj.get("query_type", ""))
    if qtype not in spec.query_types:
        raise BadAnswer("bad_schema", f"'query_type' must be one of {', '.join(spec.query_types)}, got {obj.get('query_type')!r}")
    difficulty = _norm_choice(obj.get("difficulty", ""))
    if difficulty not in DIFFICULTIES:
        raise BadAnswer("bad_schema", f"'difficulty' must be one of {', '.join(DIFFICULTIES)}, got {obj.get('difficulty')!r}")
    return chosen, qtype, difficulty


def validate_answer(obj: dict, spec: TaskSpec) -> dict:
    """Step 2: every field the task needs is a non-empty string (stripped)."""
    out = dict(obj)
    for field in spec.fields:
        value = obj.get(field)
        if not isinstance(value, str) or not value.strip():
            raise BadAnswer("bad_schema", f"{spec.name} answer needs a non-empty string '{field}', got {value!r}")
        out[field] = value.strip()
    if "other_labels" in obj and not isinstance(obj["other_labels"], list):
        raise BadAnswer("bad_schema", f"'other_labels' must be a list, got {obj['other_labels']!r}")
    return out
