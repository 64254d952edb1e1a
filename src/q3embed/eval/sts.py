"""STS evaluation: Spearman and Pearson correlation of cosine similarity with gold scores."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np

from ..errors import InputFileError, not_a_file
from .cache import encode_cached
from ..data.jsonl import iter_jsonl
from .metrics import pearson, spearman
from .retrieval import as_embedder, model_name

_JSON_KEYS = (("sentence1", "sentence2", "score"), ("text1", "text2", "score"), ("sentence1", "sentence2", "label"))


def load_sts_pairs(path: str | Path) -> tuple[list[str], list[str], np.ndarray]:
    """(sentences1, sentences2, gold scores) from a CSV/TSV (``s1,s2,score``; a header row is
    allowed) or a JSONL file (``sentence1``, ``sentence2``, ``score``)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(not_a_file(path, "STS data", "a .csv/.tsv file of rows 's1,s2,score' or a .jsonl file",
                                        (".csv", ".tsv", ".jsonl")))
    rows = _jsonl_rows(path) if path.suffix == ".jsonl" else _csv_rows(path)
    if len(rows) < 2:
        raise InputFileError(f"{path}: need at least 2 scored pairs, found {len(rows)}")
    s1, s2, gold = zip(*rows)
    return list(s1), list(s2), np.asarray(gold, dtype=np.float64)


def _csv_rows(path: Path) -> list[tuple[str, str, float]]:
    delimiter = "\t" if path.suffix == ".tsv" else ","
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for n, rec in enumerate(csv.reader(f, delimiter=delimiter), start=1):
            if not rec or not any(x.strip() for x in rec):
                continue
            if len(rec) != 3:
                raise InputFileError(f"{path}:{n}: expected 3 fields 'sentence1{delimiter}sentence2{delimiter}score', got {len(rec)}")
            try:
                score = float(rec[2])
            except ValueError:
                if n == 1:  # header row
                    continue
                raise InputFileError(f"{path}:{n}: score {rec[2]!r} is not a number") from None
            rows.append((rec[0], rec[1], score))
    return rows


def _jsonl_rows(path: Path) -> list[tuple[str, str, float]]:
    rows = []
    for n, rec in iter_jsonl(path):
        keys = next((k for k in _JSON_KEYS if all(x in rec for x in k)), None)
        if keys is None:
            raise InputFileError(f"{path}:{n}: expected fields sentence1, sentence2, score")
        a, b, s = (rec[k] for k in keys)
        if not (isinstance(a, str) and isinstance(b, str) and isinstance(s, (int, float))):
            raise InputFileError(f"{path}:{n}: sentence1/sentence2 must be strings and score a number")
        rows.append((a, b, float(s)))
    return rows


def evaluate_sts(
    embedder,
    path: str | Path,
    instruction: str | None = None,
    dim: int | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
) -> dict:
    """Cosine Spearman/Pearson (fractions in [-1, 1]); ``main_score`` is ``cosine_spearman``.

    STS is symmetric: ``instruction`` (default none) goes on both sentences.
    """
    embedder = as_embedder(embedder)
    t0 = time.perf_counter()
    vecs1, vecs2, gold = encode_sts(embedder, path, instruction, dim, batch_size, cache_dir, show_progress)
    result = {
        **sts_scores(vecs1, vecs2, gold),
        "task": "sts",
        "dataset": Path(path).stem,
        "model": model_name(embedder),
        "dim": int(vecs1.shape[1]),
        "instruction": instruction,
        "num_pairs": len(gold),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return result


def encode_sts(embedder, path, instruction=None, dim=None, batch_size=32, cache_dir=None, show_progress=False):
    """(vectors of sentence1s (P, d), of sentence2s (P, d), gold scores (P,)); each distinct
    sentence is embedded once."""
    s1, s2, gold = load_sts_pairs(path)
    unique = list(dict.fromkeys(s1 + s2))
    vecs = encode_cached(embedder, unique, instruction=instruction, dim=dim, batch_size=batch_size,
                         cache_dir=cache_dir, show_progress=show_progress)  # (U, d)
    row = {s: i for i, s in enumerate(unique)}
    return vecs[[row[s] for s in s1]], vecs[[row[s] for s in s2]], gold


def sts_scores(vecs1: np.ndarray, vecs2: np.ndarray, gold: np.ndarray) -> dict:
    """Cosine Spearman (``main_score``) and Pearson against gold scores."""
    cos = paired_cosine(vecs1, vecs2)  # (P,)
    rho = spearman(cos, gold)
    return {"main_score": rho, "main_metric": "cosine_spearman", "cosine_spearman": rho,
            "cosine_pearson": pearson(cos, gold)}


def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of row i of ``a`` with row i of ``b``. a, b: (P, d) -> (P,)."""
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
