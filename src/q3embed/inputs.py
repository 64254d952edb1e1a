"""Read texts from user files: .txt (one text per line) or .jsonl (a ``text`` field)."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import InputFileError


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """Texts from a .txt file (one per line, blank lines kept out) or a .jsonl file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputFileError(f"cannot read input file {path}: {e.strerror or e}") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputFileError(f"{path}:{line}: not valid UTF-8 ({e.reason})") from None
    if path.suffix == ".jsonl":
        return list(_jsonl_texts(path, lines, field))
    if path.suffix in (".txt", ".md", ""):
        return [ln for ln in lines if ln.strip()]
    raise InputFileError(f"{path}: unsupported input type '{path.suffix}'; accepted: .txt (one text per line), .jsonl")


def _jsonl_texts(path: Path, lines: list[str], field: str):
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputFileError(f"{path}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get(field), str):
            raise InputFileError(f"{path}:{n}: expected an object with a string '{field}' field")
        yield rec[field]
