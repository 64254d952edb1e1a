"""The on-disk index: immutable segment files plus one manifest that is the commit point.

Layout of an index directory::

    manifest.json                 the commit: spec, generation, segments, deleted rows
    segments/seg-000003.vectors.npy   (rows, dim) in the storage dtype
    segments/seg-000003.scales.npy    (rows,) float32, int8 storage only
    segments/seg-000003.bits.npy      (rows, binary_dim / 8) uint8 sign bits, binary first pass only
    segments/seg-000003.rows.jsonl    one record per row: document id, chunk, offsets, text, meta
    ann/                          approximate-search caches, rebuilt when missing or stale
    .lock                         held (flock) by the one writer

A commit writes new segment files under temporary names, fsyncs and renames them, then
replaces ``manifest.json`` atomically (temp file + fsync + ``os.replace`` + directory fsync).
A kill at any moment therefore leaves either the old manifest or the new one, and both name
only complete files. Files no manifest names are debris from a killed writer; the next writer
deletes them. Opening checks every named file's size (and, with ``verify=True``, its sha256).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.jsonl import jsonl_bytes, read_jsonl
from .errors import IndexBusyError, IndexCorruptError, IndexNotFoundError
from .spec import IndexSpec

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
SEGMENTS = "segments"


@dataclass
class SegmentEntry:
    name: str
    rows: int
    files: dict[str, dict]  # role -> {"path", "bytes", "sha256"}
    deleted: list[int] = field(default_factory=list)  # row numbers within this segment

    def to_json(self) -> dict:
        return {"name": self.name, "rows": self.rows, "files": self.files, "deleted": sorted(self.deleted)}


@dataclass
class Manifest:
    spec: IndexSpec
    generation: int = 0
    next_segment: int = 1
    segments: list[SegmentEntry] = field(default_factory=list)
    building: bool = False  # True from a build's first commit until its last: an interrupted build says so

    def to_json(self) -> dict:
        return {"format": FORMAT_VERSION, "generation": self.generation, "next_segment": self.next_segment,
                "building": self.building, "spec": self.spec.to_json(),
                "segments": [s.to_json() for s in self.segments]}


@dataclass
class Segment:
    """One segment loaded for search: vectors memory-mapped, rows in memory."""

    entry: SegmentEntry
    vectors: np.ndarray  # (rows, dim) storage dtype
    scales: np.ndarray | None  # (rows,) float32 for int8
    rows: list[dict]


def manifest_path(root: Path) -> Path:
    return root / MANIFEST


def manifest_stamp(root: Path) -> tuple[int, int] | None:
    """(inode, mtime_ns) of the committed manifest: a commit replaces the file, so the stamp changes.

    The new manifest is written beside the old one before the rename, so the two inodes differ
    and a reused inode number cannot hide a commit. One stat call: cheap enough for every search.
    """
    try:
        st = manifest_path(root).stat()
    except (FileNotFoundError, NotADirectoryError):  # no index there yet, or a file: read_manifest names it
        return None
    return st.st_ino, st.st_mtime_ns


def read_manifest(root: Path) -> Manifest:
    path = manifest_path(root)
    if not root.exists():
        raise IndexNotFoundError(f"no index at {root}: the directory does not exist "
                                 "(build one with `q3embed index build` or Index.build)")
    if not root.is_dir():
        raise IndexNotFoundError(f"no index at {root}: it is a file; an index is the directory "
                                 "`q3embed index build --out` writes")
    if not path.exists():
        raise IndexNotFoundError(f"no index at {root}: {MANIFEST} is missing (not a q3embed index, or its "
                                 "first build was interrupted before the first commit)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorruptError(f"{path}: unreadable manifest ({e})") from None
    if data.get("format") != FORMAT_VERSION:
        raise IndexCorruptError(f"{path}: index format {data.get('format')!r}; this q3embed reads format {FORMAT_VERSION}")
    return Manifest(
        spec=IndexSpec.from_json(data["spec"]),
        generation=int(data["generation"]),
        next_segment=int(data["next_segment"]),
        segments=[SegmentEntry(s["name"], int(s["rows"]), s["files"], list(s.get("deleted", [])))
                  for s in data["segments"]],
        building=bool(data.get("building", False)),
    )


def commit_manifest(root: Path, manifest: Manifest) -> None:
    """Make ``manifest`` the committed state, atomically and durably."""
    write_atomic(manifest_path(root), json.dumps(manifest.to_json(), indent=1).encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    fsync_dir(path.parent)  # make the rename itself survive a power cut


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_segment(root: Path, name: str, vectors: np.ndarray, scales: np.ndarray | None,
                  rows: list[dict], bits: np.ndarray | None = None) -> SegmentEntry:
    """Write one complete, fsynced segment. It is invisible until a manifest names it.

    ``bits`` (rows, binary_dim / 8) uint8: the sign bits of a binary first pass, when the spec keeps them."""
    seg_dir = root / SEGMENTS
    seg_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    payloads = {"vectors": _npy_bytes(vectors), "rows": _rows_bytes(rows)}
    if scales is not None:
        payloads["scales"] = _npy_bytes(scales)
    if bits is not None:
        payloads["bits"] = _npy_bytes(bits)
    for role, data in payloads.items():
        suffix = "rows.jsonl" if role == "rows" else f"{role}.npy"
        rel = f"{SEGMENTS}/{name}.{suffix}"
        tmp = root / f"{rel}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, root / rel)
        files[role] = {"path": rel, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    fsync_dir(seg_dir)
    return SegmentEntry(name, len(rows), files)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _rows_bytes(rows: list[dict]) -> bytes:
    return jsonl_bytes(rows)


def check_files(root: Path, manifest: Manifest, verify: bool = False) -> None:
    """Raise IndexCorruptError unless every file the manifest names is whole."""
    for seg in manifest.segments:
        for role, meta in seg.files.items():
            path = root / meta["path"]
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise IndexCorruptError(f"{root}: committed file {meta['path']} is missing") from None
            if size != meta["bytes"]:
                raise IndexCorruptError(f"{root}: {meta['path']} has {size} bytes; the commit recorded {meta['bytes']}")
            if verify and _sha256(path) != meta["sha256"]:
                raise IndexCorruptError(f"{root}: {meta['path']} does not match its recorded sha256")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_segment(root: Path, entry: SegmentEntry, dim: int) -> Segment:
    vectors = np.load(root / entry.files["vectors"]["path"], mmap_mode="r")
    scales = np.load(root / entry.files["scales"]["path"]) if "scales" in entry.files else None
    rows = read_jsonl(root / entry.files["rows"]["path"], "index rows")
    if vectors.shape != (entry.rows, dim) or len(rows) != entry.rows or (scales is not None and len(scales) != entry.rows):
        raise IndexCorruptError(f"{root}: segment {entry.name} holds {vectors.shape} vectors and {len(rows)} rows; "
                                f"the commit recorded {entry.rows} rows of dim {dim}")
    return Segment(entry, vectors, scales, rows)


def remove_debris(root: Path, manifest: Manifest) -> int:
    """Delete segment files that no committed manifest names (left by a killed writer)."""
    named = {meta["path"] for seg in manifest.segments for meta in seg.files.values()}
    removed = 0
    seg_dir = root / SEGMENTS
    if seg_dir.is_dir():
        for p in seg_dir.iterdir():
            if f"{SEGMENTS}/{p.name}" not in named:
                p.unlink(missing_ok=True)
                removed += 1
    (root / f".{MANIFEST}.tmp").unlink(missing_ok=True)
    return removed


_HELD: dict[str, list] = {}  # resolved root -> [open lock file, depth]: re-entrant within one process


@contextlib.contextmanager
def writer_lock(root: Path):
    """One writer at a time. flock is released by the kernel when a writer dies, even by SIGKILL.

    Re-entrant within a process, so ``Index.build`` can hold it across create + add while the
    methods it calls take it again. ``.lock`` itself is never deleted (``--overwrite`` keeps it):
    deleting it would let a second writer lock a fresh file while the first still holds the old one.
    """
    root.mkdir(parents=True, exist_ok=True)
    key = str(root.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    f = open(root / LOCK, "a+b")
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusyError(f"{root}: another process is writing to this index; try again when it finishes") from None
        _HELD[key] = [f, 1]
        try:
            yield
        finally:
            del _HELD[key]
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    finally:
        f.close()
