"""Read the passages to synthesise from: BEIR-style corpus.jsonl or a .txt (one per line)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError
from ..inputs import iter_jsonl, read_lines


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    title: str = ""  # the BEIR title, also the start of ``text`` (weak pairs use it apart)


def read_corpus(path: str | Path, min_chars: int = 1) -> list[Passage]:
    """.jsonl: ``_id`` or ``id`` plus ``text`` (``title`` is prepended, as in BEIR). .txt: ids are L<line>."""
    path = Path(path)
    lines = read_lines(path, "corpus")
    if path.suffix == ".jsonl":
        passages = [_from_json(path, n, rec) for n, rec in iter_jsonl(path, "corpus", lines)]
    elif path.suffix in (".txt", ""):
        passages = [Passage(f"L{n}", ln.strip()) for n, ln in enumerate(lines, 1) if ln.strip()]
    else:
        raise InputFileError(f"{path}: unsupported corpus type '{path.suffix}'; accepted: .jsonl (_id/id, text, title), .txt")
    passages = [p for p in passages if len(p.text) >= min_chars]
    if not passages:
        raise InputFileError(f"corpus {path} has no passages")
    seen: set[str] = set()
    for p in passages:
        if p.id in seen:
            raise InputFileError(f"corpus {path}: passage id {p.id!r} appears twice; ids must be unique")
        seen.add(p.id)
    return passages


def _from_json(path: Path, n: int, rec: dict) -> Passage:
    if not isinstance(rec.get("text"), str):
        raise InputFileError(f"corpus {path}:{n}: expected a string 'text' field (and '_id' or 'id')")
    pid = rec.get("_id", rec.get("id"))
    if pid is None:
        raise InputFileError(f"corpus {path}:{n}: passage has no '_id' or 'id'")
    title = rec.get("title") or ""
    if not isinstance(title, str):
        return Passage(str(pid), rec["text"].strip())
    return Passage(str(pid), f"{title} {rec['text']}".strip(), title.strip())
