"""Personas for step 1: the packaged list written for q3embed, or a Persona Hub JSONL.

Persona Hub (proj-persona/PersonaHub) files carry the text under ``persona`` (persona.jsonl)
or ``input persona`` (the task subsets); both are read, as is a plain .txt (one per line).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ..errors import InputFileError

_FIELDS = ("persona", "input persona", "input_persona", "text")


def packaged_personas_path() -> Path:
    return Path(str(resources.files(__package__) / "personas.jsonl"))


def load_personas(path: str | Path | None = None, limit: int | None = None) -> list[str]:
    """Distinct persona texts, in file order; ``limit`` keeps the first N (Persona Hub is large)."""
    path = Path(path) if path is not None else packaged_personas_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"cannot read personas file {path}: {e}") from None
    out: dict[str, None] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix == ".txt":
            out.setdefault(line.strip())
        else:
            out.setdefault(_persona_from_json(path, n, line))
        if limit and len(out) >= limit:
            break
    if not out:
        raise InputFileError(f"personas file {path}: no personas found; expected JSONL with a 'persona' or 'input persona' field, or .txt")
    return list(out)


def _persona_from_json(path: Path, n: int, line: str) -> str:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputFileError(f"personas file {path}:{n}: invalid JSON ({e.msg})") from None
    if isinstance(rec, dict):
        for f in _FIELDS:
            if isinstance(rec.get(f), str) and rec[f].strip():
                return rec[f].strip()
    raise InputFileError(f"personas file {path}:{n}: expected an object with a string field, one of: {', '.join(_FIELDS)}")
