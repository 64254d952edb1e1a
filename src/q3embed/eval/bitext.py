"""Bitext mining: for each source line, the nearest target line (cosine) is its predicted match.

Metrics follow MTEB BitextMining (Tatoeba): source line i's label is i, its prediction is the
index of its nearest target; precision, recall and F1 are weighted by label support, which with
one source per label is the plain mean over source lines. A target that several sources pick
splits its precision among them; a target nobody picks contributes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .cache import encode_cached
from .retrieval import as_embedder, model_name
from ..data.vectors import l2_normalize


def bitext_metrics(predictions: np.ndarray) -> dict[str, float]:
    """Weighted precision/recall/F1 and accuracy when source i's gold target is i.

    predictions: (N,) int, the target index chosen for each source line.
    """
    pred = np.asarray(predictions, dtype=np.int64)  # (N,)
    n = len(pred)
    correct = pred == np.arange(n)  # (N,) true positives per label
    picked = np.bincount(pred, minlength=n)[:n]  # (N,) how often each label was predicted
    tp = correct.astype(np.float64)
    precision = np.divide(tp, picked, out=np.zeros(n), where=picked > 0)  # per label; 0 when never predicted
    recall = tp  # each label has support 1
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(n), where=denom > 0)
    return {
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "accuracy": float(correct.mean()),
    }


def nearest_targets(source_vecs: np.ndarray, target_vecs: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Index of the most cosine-similar target for each source. (S, d), (T, d) -> (S,)."""
    s = l2_normalize(source_vecs.astype(np.float32))
    t = l2_normalize(target_vecs.astype(np.float32))
    return np.concatenate([(s[i: i + chunk] @ t.T).argmax(1) for i in range(0, len(s), chunk)])


def read_aligned_lines(source_path: str | Path, target_path: str | Path) -> tuple[list[str], list[str]]:
    """Two files with one sentence per line, line i of one translating line i of the other."""
    sides = []
    for path in (Path(source_path), Path(target_path)):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise InputFileError(f"cannot read bitext file {path}: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise InputFileError(f"{path}: not valid UTF-8 ({e.reason})") from None
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                raise InputFileError(f"{path}:{n}: empty line; each line must hold the sentence aligned with the other file's line")
        sides.append((path, lines))
    (sp, src), (tp, tgt) = sides
    if len(src) != len(tgt):
        raise InputFileError(f"{sp} has {len(src)} lines but {tp} has {len(tgt)}; bitext files must be line-aligned")
    if not src:
        raise InputFileError(f"{sp}: no lines")
    return src, tgt


def evaluate_bitext(
    embedder,
    source_path: str | Path,
    target_path: str | Path,
    instruction: str | None = None,
    dim: int | None = None,
    batch_size: int = 32,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
) -> dict:
    """F1 (``main_score``), precision, recall and accuracy of source -> target mining."""
    embedder = as_embedder(embedder)
    t0 = time.perf_counter()
    src, tgt = read_aligned_lines(source_path, target_path)
    kw = dict(instruction=instruction, dim=dim, batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress)
    src_vecs, tgt_vecs = encode_cached(embedder, src, **kw), encode_cached(embedder, tgt, **kw)  # (N, d) each
    pred = nearest_targets(src_vecs, tgt_vecs)
    metrics = bitext_metrics(pred)
    return {
        "main_score": metrics["f1"],
        "main_metric": "f1",
        **metrics,
        "task": "bitext",
        "dataset": f"{Path(source_path).stem}-{Path(target_path).stem}",
        "model": model_name(embedder),
        "dim": int(src_vecs.shape[1]),
        "instruction": instruction,
        "num_pairs": len(src),
        "seconds": round(time.perf_counter() - t0, 2),
    }
