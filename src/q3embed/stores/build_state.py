"""Which corpus a build of the embedded index was started from, so ``--resume`` cannot mix corpora.

A resumed build keeps the documents already stored and adds the rest of the corpus it is given.
Given another corpus, it would finish "successfully" with an index of neither. The build records
the corpus's identity in ``build.json`` beside the manifest when it starts; a resume compares and
refuses a different corpus, naming both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import IndexMismatchError

BUILD_STATE = "build.json"


def corpus_identity(source, docs) -> dict:
    """Where the corpus came from (a path, resolved) and what it holds: the document count and a
    sha256 over every id and text, so an edited, shortened or other file is told apart."""
    digest = hashlib.sha256()
    for d in docs:
        digest.update(d.id.encode("utf-8", "surrogatepass") + b"\0" +
                      str(d.text).encode("utf-8", "surrogatepass") + b"\0")
    where = str(Path(source).expanduser().resolve()) if isinstance(source, (str, Path)) else "the given documents"
    return {"source": where, "documents": len(docs), "sha256": digest.hexdigest()}


def record_corpus(root: Path, identity: dict) -> None:
    from .store import write_atomic

    write_atomic(Path(root) / BUILD_STATE, json.dumps({"corpus": identity}, indent=1).encode("utf-8"))


def check_same_corpus(root: Path, identity: dict) -> None:
    """Refuse to resume ``root`` with another corpus than its build started from (an index built
    before this record existed has none, and is resumed as before)."""
    try:
        started = json.loads((Path(root) / BUILD_STATE).read_text(encoding="utf-8"))["corpus"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if started.get("sha256") != identity["sha256"]:
        raise IndexMismatchError(
            f"cannot resume {root}: its build started from {_describe(started)}, and this corpus is "
            f"{_describe(identity)}; resume with the corpus it started from, or pass --overwrite to rebuild")


def _describe(identity: dict) -> str:
    return f"{identity.get('source')} ({identity.get('documents'):,} documents, sha256 {str(identity.get('sha256'))[:12]})"
