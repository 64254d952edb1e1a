"""Line-numbered JSONL reading for the evaluation data files."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputFileError


def jsonl_records(path: Path):
    """Yield (line number, object) for each non-blank line; bad JSON names file and line."""
    import json

    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputFileError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise InputFileError(f"{path}:{n}: expected a JSON object, got {type(rec).__name__}")
            yield n, rec
