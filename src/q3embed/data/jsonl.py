"""The one JSONL reader and writer of the package, and texts from .txt/.jsonl user files.

Corpora, queries, training pairs, synth output, training logs, pipeline rows and index
segments all go through ``iter_jsonl`` / ``read_jsonl`` and ``jsonl_bytes`` / ``write_jsonl``
/ ``append_jsonl``: every read error names the file and the line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputFileError, not_a_file


def read_lines(path: str | Path, what: str = "input file") -> list[str]:
    """The file's lines; a missing, unreadable or non-UTF-8 file is an InputFileError naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise InputFileError(not_a_file(path, what, "a file", (".jsonl", ".json", ".txt"))) from None
    except OSError as e:
        raise InputFileError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputFileError(f"{what} {path}:{line}: not valid UTF-8 ({e.reason})") from None


def iter_jsonl(path: str | Path, what: str = "", lines: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line; invalid JSON or a non-object names file and line."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    for n, line in enumerate(read_lines(path, what or "input file") if lines is None else lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputFileError(f"{label}:{n}: invalid JSON ({e.msg})") from None
        if not isinstance(rec, dict):
            raise InputFileError(f"{label}:{n}: expected a JSON object, got {type(rec).__name__}")
        yield n, rec


def read_texts(path: str | Path, field: str = "text", blank: str = "skip") -> list[str]:
    """Texts from a .txt file (one per line) or a .jsonl file (``field``).

    ``blank="skip"`` leaves blank lines (and empty JSONL texts) out; ``blank="refuse"`` raises,
    naming their line numbers, for callers whose output row i must be input line i.
    """
    path = Path(path)
    if path.suffix not in (".jsonl", ".txt", ".md", ""):
        raise InputFileError(f"{path}: unsupported input type '{path.suffix}'; accepted: .txt (one text per line), .jsonl")
    lines = read_lines(path)
    if path.suffix != ".jsonl":
        numbered = list(enumerate(lines, start=1))
    else:
        numbered = []
        for n, rec in iter_jsonl(path, lines=lines):
            if not isinstance(rec.get(field), str):
                raise InputFileError(f"{path}:{n}: expected an object with a string '{field}' field")
            numbered.append((n, rec[field]))
    empty = [n for n, t in numbered if not t.strip()]
    if empty and blank == "refuse":
        shown = ", ".join(map(str, empty[:10])) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
        raise InputFileError(f"{path}: blank text on line {shown}; every line must be a text, since output row i "
                             "is input line i (remove the blank lines)")
    return [t for _, t in numbered if t.strip()]


def read_jsonl(path: str | Path, what: str = "", missing_ok: bool = False) -> list[dict]:
    """Every object of a JSONL file, in order; ``missing_ok`` turns a missing file into []."""
    if missing_ok and not Path(path).exists():
        return []
    return [rec for _, rec in iter_jsonl(path, what)]


def jsonl_bytes(rows) -> bytes:
    """UTF-8 JSONL of ``rows`` (non-ASCII kept as is), one object per line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def write_jsonl(path: str | Path, rows) -> Path:
    """Write ``rows`` as the whole file."""
    path = Path(path)
    path.write_bytes(jsonl_bytes(rows))
    return path


def append_jsonl(path: str | Path, rows) -> None:
    """Append ``rows`` to the file (created when missing)."""
    with open(path, "ab") as f:
        f.write(jsonl_bytes(rows))
