"""Personas for step 1: the packaged list written for q3embed, or a Persona Hub JSONL.

Persona Hub (proj-persona/PersonaHub) files carry the text under ``persona`` (persona.jsonl)
or ``input persona`` (the task subsets); both are read, as is a plain .txt (one per line).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import InputFileError
from ..data.jsonl import iter_jsonl, read_lines

_FIELDS = ("persona", "input persona", "input_persona", "text")


def packaged_personas_path() -> Path:
    return Path(str(resources.files(__package__) / "personas.jsonl"))


def load_personas(path: str | Path | None = None, limit: int | None = None) -> list[str]:
    """Distinct persona texts, in file order; ``limit`` keeps the first N (Persona Hub is large)."""
    path = Path(path) if path is not None else packaged_personas_path()
    if path.suffix == ".txt":
        texts = (line.strip() for line in read_lines(path, "personas file") if line.strip())
    else:
        texts = (_persona_text(path, n, rec) for n, rec in iter_jsonl(path, "personas file"))
    out: dict[str, None] = {}  # ordered set
    for text in texts:
        out.setdefault(text)
        if limit and len(out) >= limit:
            break
    if not out:
        raise InputFileError(f"personas file {path}: no personas found; expected JSONL with a 'persona' or 'input persona' field, or .txt")
    return list(out)


def _persona_text(path: Path, n: int, rec: dict) -> str:
    for f in _FIELDS:
        if isinstance(rec.get(f), str) and rec[f].strip():
            return rec[f].strip()
    raise InputFileError(f"personas file {path}:{n}: expected a string field, one of: {', '.join(_FIELDS)}")
