"""The passages to synthesise from: the package's one corpus reader, with a minimum length.

``Passage`` is the data layer's ``Document`` (id, text).
"""

from __future__ import annotations

from pathlib import Path

from ..data.corpus import Document
from ..data.corpus import read_corpus as _read_corpus

Passage = Document


def read_corpus(path: str | Path, min_chars: int = 1) -> list[Document]:
    """.jsonl: ``_id`` or ``id`` plus ``text`` (``title`` is prepended, as in BEIR). .txt: ids are L<line>."""
    return _read_corpus(Path(path), min_chars=min_chars)
