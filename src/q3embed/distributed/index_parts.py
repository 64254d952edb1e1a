"""Ray ingestion into the embedded index: staged part files, then one commit.

The driver writes each batch of whole documents as one part (the index's own segment format) under
``<index>.ray-parts/``, and records it with a marker written last and atomically: a part without a
marker is debris from a kill and is deleted. ``run.json`` records the settings, so the same command
after a kill continues (it skips the documents in marked parts) and another command is refused.
``commit`` hard-links every part into the index's ``segments/`` and names them all in one manifest.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.jsonl import read_jsonl
from ..stores.errors import DuplicateIdError
from ..stores.storage import quantize
from ..stores.store import (SEGMENTS, Manifest, SegmentEntry, commit_manifest, read_manifest, remove_debris,
                            write_atomic, write_segment, writer_lock)

RUN_FILE = "run.json"
MARKER_SUFFIX = ".part.json"


def staging_dir(index_root: Path) -> Path:
    return index_root.with_name(index_root.name + ".ray-parts")


@dataclass
class Part:
    entry: SegmentEntry
    ids: list[str]  # the documents it holds, each whole


class StagedParts:
    """The parts of one unfinished Ray build of ``index_root`` with ``settings``."""

    def __init__(self, index_root: Path, settings: dict):
        self.root = staging_dir(index_root)
        self.settings = settings
        self.parts: list[Part] = []

    def clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def open(self, committed_ids: set[str]) -> set[str]:
        """Load the marked parts of an earlier run with the same settings; return the ids they hold.

        Parts whose documents the index already holds were committed before a kill: they are dropped.
        """
        run = self.root / RUN_FILE
        if run.exists():
            earlier = json.loads(run.read_text(encoding="utf-8"))
            if earlier != self.settings:
                changed = sorted(k for k in set(earlier) | set(self.settings) if earlier.get(k) != self.settings.get(k))
                raise FileExistsError(f"{self.root} holds an unfinished Ray build with other settings "
                                      f"({', '.join(changed)} differ); rerun it with the same command, or pass "
                                      "--overwrite to start again")
        else:
            self.clear()
            (self.root / SEGMENTS).mkdir(parents=True)
            write_atomic(run, json.dumps(self.settings, indent=1).encode("utf-8"))
        marked = {}
        for marker in sorted(self.root.glob(f"*{MARKER_SUFFIX}")):
            data = json.loads(marker.read_text(encoding="utf-8"))
            marked[data["name"]] = Part(SegmentEntry(data["name"], int(data["rows"]), data["files"]), data["ids"])
        for name, part in list(marked.items()):
            if committed_ids.intersection(part.ids):  # committed whole, as every part is
                self._drop(part)
                del marked[name]
        keep = {meta["path"] for p in marked.values() for meta in p.entry.files.values()}
        for p in (self.root / SEGMENTS).iterdir():
            if f"{SEGMENTS}/{p.name}" not in keep:
                p.unlink()  # written by a killed driver before its marker
        self.parts = list(marked.values())
        return {i for p in self.parts for i in p.ids}

    def write(self, vectors: np.ndarray, rows: list[dict], dtype: str) -> None:
        """Stage one part: vectors (n, dim) float32 and their row records, whole documents only."""
        name = f"part-{len(self.parts) + 1:06d}"
        while (self.root / f"{name}{MARKER_SUFFIX}").exists():
            name = f"part-{int(name[5:]) + 1:06d}"
        stored, scales = quantize(vectors, dtype)
        entry = write_segment(self.root, name, stored, scales, rows)
        ids = list(dict.fromkeys(r["id"] for r in rows))
        marker = {"name": name, "rows": entry.rows, "files": entry.files, "ids": ids}
        write_atomic(self.root / f"{name}{MARKER_SUFFIX}", json.dumps(marker).encode("utf-8"))  # the part's commit
        self.parts.append(Part(entry, ids))

    def commit(self, index) -> int:
        """Name every staged part in one new manifest of ``index``; returns the documents added."""
        root = index.root
        with writer_lock(root):
            manifest = read_manifest(root)
            remove_debris(root, manifest)
            index.reload()
            seen: dict[str, str] = {}
            clash = []
            for part in self.parts:
                for i in part.ids:
                    if i in index or i in seen:
                        clash.append(i)
                    seen[i] = part.entry.name
            if clash:  # cannot happen unless a document arrived twice: refuse rather than store it twice
                raise DuplicateIdError.for_ids(str(root), clash, "the staged parts repeat these documents; "
                                                                 "rerun with --overwrite")
            segments = [SegmentEntry(e.name, e.rows, e.files, list(e.deleted)) for e in manifest.segments]
            next_segment = manifest.next_segment
            (root / SEGMENTS).mkdir(exist_ok=True)
            for part in self.parts:
                name = f"seg-{next_segment:06d}"
                files = {}
                for role, meta in part.entry.files.items():
                    rel = f"{SEGMENTS}/{name}.{meta['path'].split('.', 1)[1]}"
                    _link_or_copy(self.root / meta["path"], root / rel)
                    files[role] = {**meta, "path": rel}
                segments.append(SegmentEntry(name, part.entry.rows, files))
                # like every index write: the segment's lexical rows are committed before the manifest
                # that makes vectors and text visible together (stores/lexical.py)
                index.lexical().write(name, [r.get("text", "") for r in _part_rows(self.root, part)],
                                      manifest.spec.analyzer)
                next_segment += 1
            commit_manifest(root, Manifest(manifest.spec, manifest.generation + 1, next_segment, segments))
            index.reload()
        self.clear()
        return len(seen)

    def _drop(self, part: Part) -> None:
        for meta in part.entry.files.values():
            (self.root / meta["path"]).unlink(missing_ok=True)
        (self.root / f"{part.entry.name}{MARKER_SUFFIX}").unlink(missing_ok=True)


def _part_rows(staging: Path, part: Part) -> list[dict]:
    """The row records of a staged part, in row order (its ``rows.jsonl``)."""
    return read_jsonl(staging / part.entry.files["rows"]["path"])


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard link (same file system: no copy, and the staged part stays whole until the commit)."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
        with open(dst, "rb") as f:
            os.fsync(f.fileno())
