"""Fixtures for the synth tests: a fake OpenAI-compatible LLM on localhost and small corpora."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # fake_llm lives next to the tests

from fake_llm import FakeLLM  # noqa: E402



@pytest.fixture
def fake_llm():
    with FakeLLM() as srv:
        yield srv


@pytest.fixture
def write_corpus(tmp_path):
    """write_corpus(["text", ...]) -> corpus.jsonl with ids p0, p1, ..."""

    def write(texts: list[str], name: str = "corpus.jsonl") -> Path:
        path = tmp_path / name
        with open(path, "w") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"_id": f"p{i}", "title": "", "text": t}) + "\n")
        return path

    return write
