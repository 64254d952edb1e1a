"""The one corpus type and reader: ``Document`` records from a BEIR corpus.jsonl, id/text JSONL,
a .txt file (one passage per line), a folder of .txt/.md files, or an iterable.

Indexing, evaluation, mining and synthesis all read corpora here. Every problem is reported with
the file path and, for JSONL, the line number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputFileError
from .jsonl import iter_jsonl, read_lines

FOLDER_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl", ".json")
LINES_SUFFIXES = (".txt", "")
_ID_KEYS = ("_id", "id")


@dataclass(frozen=True)
class Document:
    """One corpus entry. BEIR's title is folded into ``text`` (``title + " " + text``, stripped,
    as MTEB does); every other field of the record is kept in ``meta``."""

    id: str
    text: str
    meta: dict = field(default_factory=dict)


def read_corpus(source: str | Path | Iterable, min_chars: int = 1, follow_links: bool = False) -> list[Document]:
    """Documents from a path or from an iterable of Documents/dicts/(id, text) pairs.

    A path is a JSONL file (``_id`` or ``id``, ``text``, optional ``title``), a .txt file (one
    passage per line, ids ``L<line>``) or a folder of .txt/.md files (ids are relative paths).
    Documents shorter than ``min_chars`` are left out (0 keeps empty ones, as BEIR evaluation
    must). Ids must be unique within one corpus; an empty corpus is an error.

    In a folder, a symlink whose target lies outside the folder is skipped unless ``follow_links``
    (``links_leaving`` lists them): a link such as ``notes.txt -> /etc/passwd`` would otherwise put
    a file the corpus's owner never chose into a searchable index.
    """
    if isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        if path.is_dir():
            docs = list(_folder_documents(path, follow_links))
        elif path.exists():
            docs = list(_file_documents(path))
        else:
            raise InputFileError(f"corpus not found: {path} (expected a .jsonl file, a .txt file or a folder of .txt/.md files)")
        where = str(path)
    else:
        docs = [_coerce(item, i) for i, item in enumerate(source)]
        where = "the given documents"
    docs = [d for d in docs if len(d.text) >= min_chars]
    if not docs:
        raise InputFileError(f"{where}: the corpus is empty (no documents with text)")
    _check_unique(docs, where)
    return docs


def corpus_texts(docs: Iterable[Document]) -> dict[str, str]:
    """{doc id: text}, in corpus order."""
    return {d.id: d.text for d in docs}


def _file_documents(path: Path) -> Iterator[Document]:
    if path.suffix in LINES_SUFFIXES:
        for n, line in enumerate(read_lines(path, "corpus"), start=1):
            if line.strip():
                yield Document(f"L{n}", line.strip())
        return
    if path.suffix not in JSONL_SUFFIXES:
        raise InputFileError(f"{path}: unsupported corpus file '{path.suffix}'; accepted: .jsonl, .txt (one passage "
                             f"per line), or a folder of .txt/.md")
    first_line: dict[str, int] = {}
    for n, rec in iter_jsonl(path, "", read_lines(path, "corpus")):
        doc = _record_document(rec)
        if isinstance(doc, str):
            raise InputFileError(f"{path}:{n}: {doc}")
        if doc.id in first_line:
            raise InputFileError(f"{path}:{n}: duplicate document id {doc.id!r} (first on line {first_line[doc.id]})")
        first_line[doc.id] = n
        yield doc


def _record_document(rec) -> Document | str:
    """A Document, or a message saying what the record lacks."""
    if not isinstance(rec, Mapping):
        return "expected a JSON object with 'id' (or '_id') and 'text'"
    key = next((k for k in _ID_KEYS if k in rec), None)
    if key is None or not isinstance(rec[key], (str, int)) or isinstance(rec[key], bool):
        return "expected a string or integer 'id' (or '_id') field"
    text, title = rec.get("text"), rec.get("title")
    if not isinstance(text, str):
        return "expected a string 'text' field"
    if title is not None and not isinstance(title, str):
        return "'title' must be a string when given"
    meta = {k: v for k, v in rec.items() if k not in (key, "text")}
    return Document(str(rec[key]), f"{title or ''} {text}".strip(), meta)


def links_leaving(root: str | Path) -> list[tuple[Path, Path]]:
    """(link, target) for every file under folder ``root`` that is a symlink resolving outside it: text
    corpus files, and the images and PDFs of a media folder (``pages.media_files``) alike."""
    from .pages import is_media_file

    root = Path(root).expanduser()
    if not root.is_dir():
        return []
    inside = root.resolve()
    # rglob does not descend into linked folders; a linked file is listed like any other
    return [(p, p.resolve()) for p in sorted(root.rglob("*"))
            if p.is_file() and (p.suffix in FOLDER_SUFFIXES or is_media_file(p))
            and not p.resolve().is_relative_to(inside)]


def _folder_files(root: Path) -> list[Path]:
    # rglob does not descend into linked folders; a linked file is listed like any other
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in FOLDER_SUFFIXES)


def _folder_documents(root: Path, follow_links: bool = False) -> Iterator[Document]:
    leaving = set() if follow_links else {link for link, _ in links_leaving(root)}
    files = [p for p in _folder_files(root) if p not in leaving]
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputFileError(f"{p}: not valid UTF-8 ({e.reason})") from None
        except OSError as e:
            raise InputFileError(f"cannot read {p}: {e.strerror or e}") from None
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
