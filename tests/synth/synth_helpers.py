"""Plain helpers shared by the synth tests (importable by module name, unlike conftest)."""

from __future__ import annotations

import json
from pathlib import Path


def passages(n: int) -> list[str]:
    """n distinct, sentence-like passages."""
    topics = ["volcanoes", "insulin", "bridges", "tea", "comets", "vaccines", "rivers", "batteries"]
    return [f"Passage {i} explains how {topics[i % len(topics)]} change over time in region {i}. "
            f"It gives measurements number {i * 7} and a short conclusion." for i in range(n)]


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
