"""The embedding query template lives in q3embed.config alone: the tokenizer formats with it, a
sentence-transformers export saves its prompt half, and a saved prompt is read back with it."""

from __future__ import annotations

import re
from pathlib import Path

from q3embed.config import (
    DEFAULT_QUERY_INSTRUCTION,
    format_query,
    instruction_of_prompt,
    query_prompt,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "q3embed"


def test_queries_follow_the_model_card_template():
    assert format_query(DEFAULT_QUERY_INSTRUCTION, "What is the capital of China?") == (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\n"
        "Query:What is the capital of China?")
    assert format_query(None, "a document") == "a document"


def test_a_saved_prompt_reads_back_into_its_instruction():
    for instruction in (DEFAULT_QUERY_INSTRUCTION, "braces {task} stay text", ""):
        assert instruction_of_prompt(query_prompt(instruction)) == instruction
    assert instruction_of_prompt("query: ") is None  # another model family's prompt
    assert instruction_of_prompt("Instruct: no query part") is None


def test_the_template_is_spelled_in_one_module():
    """Code that writes ``\\nQuery:`` as a string (help texts and docstrings escape it as ``\\\\n``)."""
    in_code = re.compile(r"(?<!\\)\\nQuery:")
    spelled = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if in_code.search(p.read_text(encoding="utf-8")))
    assert spelled == ["config.py"], spelled
