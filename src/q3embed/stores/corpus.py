"""Read a corpus into ``Document`` records: BEIR corpus.jsonl, id/text JSONL, .txt (one per line), or a folder.

Every problem is reported with the file path and, for JSONL, the line number.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError

FOLDER_SUFFIXES = (".txt", ".md")
_ID_KEYS = ("_id", "id")


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    meta: dict = field(default_factory=dict)


def read_corpus(source: str | Path | Iterable) -> list[Document]:
    """Documents from a path (JSONL file or folder) or from an iterable of Documents/dicts/(id, text).

    BEIR records (``_id``, ``title``, ``text``) become ``title + " " + text``, stripped, as MTEB does.
    Ids must be unique within one corpus; an empty corpus is an error.
    """
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.is_dir():
            docs = list(_folder_documents(path))
        elif path.exists() and path.suffix == ".txt":
            docs = list(_line_documents(path))
        elif path.exists():
            docs = list(_jsonl_documents(path))
        else:
            raise InputFileError(f"corpus not found: {path} (expected a .jsonl file, a .txt file with one document "
                                 "per line, or a folder of .txt/.md files)")
        where = str(path)
    else:
        docs = [_coerce(item, i) for i, item in enumerate(source)]
        where = "the given documents"
    if not docs:
        raise InputFileError(f"{where}: the corpus is empty (no documents with text)")
    _check_unique(docs, where)
    return docs


def _line_documents(path: Path) -> Iterator[Document]:
    """A .txt corpus: one document per line, id ``L<line>`` (as synth reads .txt), blank lines skipped."""
    from ..inputs import read_lines

    for n, line in enumerate(read_lines(path, "corpus"), start=1):
        if line.strip():
            yield Document(f"L{n}", line.strip())


def _jsonl_documents(path: Path) -> Iterator[Document]:
    if path.suffix not in (".jsonl", ".json"):
        raise InputFileError(f"{path}: unsupported corpus file '{path.suffix}'; accepted: .jsonl, .txt (one document per line), or a folder of .txt/.md")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputFileError(f"cannot read corpus {path}: {e.strerror or e}") from None
    first_line: dict[str, int] = {}
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise InputFileError(f"{path}:{n}: not valid UTF-8 ({e.reason})") from None
        except json.JSONDecodeError as e:
            raise InputFileError(f"{path}:{n}: invalid JSON ({e.msg})") from None
        doc = _record_document(rec)
        if isinstance(doc, str):
            raise InputFileError(f"{path}:{n}: {doc}")
        if doc.id in first_line:
            raise InputFileError(f"{path}:{n}: duplicate document id {doc.id!r} (first on line {first_line[doc.id]})")
        first_line[doc.id] = n
        if doc.text:
            yield doc


def _record_document(rec) -> Document | str:
    """A Document, or a message saying what the record lacks."""
    if not isinstance(rec, Mapping):
        return "expected a JSON object with 'id' (or '_id') and 'text'"
    key = next((k for k in _ID_KEYS if k in rec), None)
    if key is None or not isinstance(rec[key], (str, int)) or isinstance(rec[key], bool):
        return "expected a string or integer 'id' (or '_id') field"
    text = rec.get("text")
    if not isinstance(text, str):
        return "expected a string 'text' field"
    title = rec.get("title")
    if isinstance(title, str) and title:
        text = f"{title} {text}"
    meta = {k: v for k, v in rec.items() if k not in (key, "text")}
    return Document(str(rec[key]), text.strip(), meta)


def _folder_documents(root: Path) -> Iterator[Document]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in FOLDER_SUFFIXES)
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputFileError(f"{p}: not valid UTF-8 ({e.reason})") from None
        except OSError as e:
            raise InputFileError(f"cannot read {p}: {e.strerror or e}") from None
        if text.strip():
            yield Document(p.relative_to(root).as_posix(), text.strip(), {"path": str(p)})


def _coerce(item, i: int) -> Document:
    if isinstance(item, Document):
        return item
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], str):
        return Document(str(item[0]), item[1].strip())
    doc = _record_document(item)
    if isinstance(doc, str):
        raise InputFileError(f"document {i}: {doc}")
    return doc


def _check_unique(docs: list[Document], where: str) -> None:
    seen: set[str] = set()
    for d in docs:
        if d.id in seen:
            raise InputFileError(f"{where}: duplicate document id {d.id!r}; ids must be unique within a corpus")
        seen.add(d.id)
