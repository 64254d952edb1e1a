"""Kept import path: the JSONL and text readers live in ``q3embed.data.jsonl``."""

from .data.jsonl import iter_jsonl, read_lines, read_texts

__all__ = ["iter_jsonl", "read_lines", "read_texts"]
