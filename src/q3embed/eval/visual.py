"""Local image-corpus retrieval sets for Qwen3-VL models: the BEIR layout with an ``image`` field, and
the ViDoRe-style layout.

- **BEIR with images**: ``corpus.jsonl`` rows ``{"_id", "image": "images/p1.png", "text"?}`` (the
  image path is relative to the folder; a ``text`` beside it is embedded with it as a caption),
  ``queries.jsonl`` ``{"_id", "text"}``, ``qrels/{split}.tsv`` (query-id, corpus-id, score).
- **ViDoRe-style** (visual document retrieval, as the ViDoRe v2 sets are laid out): ``corpus.jsonl``
  rows ``{"corpus-id", "image"}``, ``queries.jsonl`` ``{"query-id", "query"}``, ``qrels.jsonl``
  ``{"query-id", "corpus-id", "score"}`` (one split; ``split`` is ignored).

Only the mechanics can be scored on the tiny random models here; quality figures need the real
checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..data.media import MediaInput
from ..errors import InputFileError


def _rows(path: Path):
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except ValueError as e:
                    raise InputFileError(f"{path}:{n}: not valid JSON ({e})") from None
                if not isinstance(rec, dict):
                    raise InputFileError(f"{path}:{n}: expected a JSON object")
                yield n, rec


def is_visual_retrieval(data_dir: str | Path) -> bool:
    """A folder whose corpus.jsonl rows carry an ``image`` field."""
    corpus = Path(data_dir) / "corpus.jsonl"
    if not corpus.is_file():
        return False
    for _, rec in _rows(corpus):
        return "image" in rec
    return False


def load_visual_retrieval(data_dir: str | Path, split: str = "test"):
    """(corpus: id -> MediaInput, queries: id -> text, qrels: query id -> {doc id: relevance})."""
    root = Path(data_dir)
    vidore = (root / "qrels.jsonl").is_file()
    id_key, q_id, q_text = ("corpus-id", "query-id", "query") if vidore else ("_id", "_id", "text")
    corpus = {}
    for n, rec in _rows(root / "corpus.jsonl"):
        image, text = rec.get("image"), rec.get("text") or None
        if id_key not in rec or not isinstance(image, str):
            raise InputFileError(f"{root / 'corpus.jsonl'}:{n}: expected '{id_key}' and an 'image' path")
        ref = image if image.startswith("data:") else str((root / image).resolve())
        corpus[str(rec[id_key])] = MediaInput(text=text, images=(ref,), source=image)
    queries = {}
    for n, rec in _rows(root / "queries.jsonl"):
        if q_id not in rec or not isinstance(rec.get(q_text), str):
            raise InputFileError(f"{root / 'queries.jsonl'}:{n}: expected '{q_id}' and a '{q_text}' string")
        queries[str(rec[q_id])] = rec[q_text]
    qrels: dict[str, dict[str, int]] = {}
    if vidore:
        for n, rec in _rows(root / "qrels.jsonl"):
            qrels.setdefault(str(rec["query-id"]), {})[str(rec["corpus-id"])] = int(rec.get("score", 1))
    else:
        path = root / "qrels" / f"{split}.tsv"
        if not path.is_file():
            raise InputFileError(f"{path}: no such qrels file")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split("\t")
            if n == 1 and not parts[-1].strip().lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                raise InputFileError(f"{path}:{n}: expected query-id, corpus-id, score separated by tabs")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    unknown = [d for judged in qrels.values() for d in judged if d not in corpus]
    if unknown:
        raise InputFileError(f"{root}: qrels name documents not in the corpus, e.g. {unknown[0]!r}")
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InputFileError(f"{root}: qrels name queries not in queries.jsonl, e.g. {missing[0]!r}")
    return corpus, {q: queries[q] for q in qrels}, qrels
