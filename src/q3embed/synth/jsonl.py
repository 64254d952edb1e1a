"""One JSONL reader for the synth files (corpus, personas, pairs, output): errors name file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputFileError


def read_lines(path: str | Path, what: str) -> list[str]:
    """The file's lines; a missing or undecodable file is an InputFileError naming ``what``."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputFileError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"cannot read {what} {path}: {e}") from None


def iter_jsonl(path: str | Path, what: str, lines: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; invalid JSON or a non-object is an error."""
    path = Path(path)
    for n, line in enumerate(read_lines(path, what) if lines is None else lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputFileError(f"{what} {path}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise InputFileError(f"{what} {path}:{n}: expected a JSON object, got {type(rec).__name__}")
        yield n, rec
