"""Line-numbered JSONL reading for the evaluation data files (the package's one reader)."""

from __future__ import annotations

from ..inputs import iter_jsonl as jsonl_records

__all__ = ["jsonl_records"]
