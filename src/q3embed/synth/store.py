"""Append-only, keyed JSONL output that a killed run resumes without duplicates or losses.

- Each record is one line written with a single ``os.write`` on an ``O_APPEND`` descriptor,
  so a line is either wholly in the file or (if the process dies mid-write) a torn tail.
- On open, a torn tail (no final newline) is cut off; that record's key is then not
  "done", so the job runs again. Every complete line's ``key`` is done.
- Dedup is on the normalised query text. A job whose record is a duplicate is finished,
  not failed: its key goes to the side file ``<out>.skipped`` so a resume does not redo it.

A SIGKILL loses nothing already passed to ``os.write`` (it is in the page cache);
only a power cut could, which ``fsync=True`` guards against at some speed cost.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from pathlib import Path

from ..errors import InputFileError
from ..data.jsonl import iter_jsonl, jsonl_bytes

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    """Dedup form: NFKC, case-folded, punctuation and runs of whitespace become one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


class PairStore:
    def __init__(self, path: str | Path, fsync: bool = False):
        self.path = Path(path)
        self.skipped_path = self.path.with_name(self.path.name + ".skipped")
        self.fsync = fsync
        self._lock = threading.Lock()
        self._done: set[str] = set()
        self._seen: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = _cut_torn_tail(self.path) + _cut_torn_tail(self.skipped_path)
        self.n_records = self._load()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._skip_fd = os.open(self.skipped_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _load(self) -> int:
        n = 0
        for rec, where in _read_jsonl(self.path):
            if not isinstance(rec.get("key"), str) or not isinstance(rec.get("query"), str):
                raise InputFileError(f"{where}: existing output record lacks 'key'/'query'; "
                                     f"is {self.path} the output of another tool? Use a new --out")
            self._done.add(rec["key"])
            self._seen.add(normalise(rec["query"]))
            n += 1
        for rec, _ in _read_jsonl(self.skipped_path):
            self._done.add(str(rec.get("key")))
        return n

    def is_done(self, key: str) -> bool:
        with self._lock:
            return key in self._done

    def add(self, record: dict) -> bool:
        """Append ``record`` (must carry ``key`` and ``query``); False if it was a duplicate."""
        key, norm = record["key"], normalise(record["query"])
        with self._lock:
            if key in self._done:
                return False
            self._done.add(key)
            if norm in self._seen:
                self._append(self._skip_fd, {"key": key, "reason": "duplicate"})
                return False
            self._seen.add(norm)
            self._append(self._fd, record)
            self.n_records += 1
            return True

    def _append(self, fd: int, record: dict) -> None:
        line = jsonl_bytes([record])
        written = os.write(fd, line)
        while written < len(line):  # regular files write fully; loop for the odd short write
            written += os.write(fd, line[written:])
        if self.fsync:
            os.fsync(fd)

    def close(self) -> None:
        for fd in (self._fd, self._skip_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> "PairStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cut_torn_tail(path: Path) -> int:
    """Truncate a final line without its newline (a write cut short by a kill); bytes removed."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
    return len(data) - keep


def _read_jsonl(path: Path):
    if not path.exists():
        return
    try:
        for n, rec in iter_jsonl(path, "existing output"):
            yield rec, f"{path}:{n}"
    except InputFileError as e:
        raise InputFileError(f"{e}; fix or remove that line, then rerun to resume") from None
