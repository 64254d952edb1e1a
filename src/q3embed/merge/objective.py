"""Choosing a merge on validation data only: a carved split of TRAIN queries plus an STS dev set.

The paper's claim for merging is robustness, so a merge is picked by a weighted sum of an
in-domain score (nDCG@10 on validation queries carved out of the *train* split) and an
out-of-domain score (Spearman on an STS dev set). Test queries are never read here: carving
from a split called ``test`` is refused.

``carve_validation`` writes ``qrels/<name>-val.tsv`` and ``qrels/<name>-fit.tsv`` next to a
BEIR folder's files (a new folder that links the corpus and queries), a seeded split by
query. Fine-tune on ``-fit`` and select on ``-val``, or the validation queries were trained on.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

from ..errors import InputFileError

Evaluate = Callable[[Path], dict]


def carve_validation(data: str | Path, out: str | Path, split: str = "train", fraction: float = 0.2,
                     seed: int = 0) -> tuple[str, str]:
    """Split ``split``'s queries into (``<split>-fit``, ``<split>-val``) qrels in ``out``; their names.

    ``out`` links ``corpus.jsonl`` and ``queries.jsonl`` of ``data`` (no copy) and gets the two
    qrels files; rerunning with the same arguments writes the same files.
    """
    if split == "test" or split.startswith("test"):
        raise ValueError("the validation split must come from training queries, not 'test' "
                         "(test queries are never used to choose)")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    data, out = Path(data), Path(out)
    src = data / "qrels" / f"{split}.tsv"
    if not src.is_file():
        raise InputFileError(f"{src}: no such qrels file; the validation split is carved from it")
    lines = src.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [ln for ln in lines[1:] if ln.strip()]
    qids = sorted({ln.split("\t")[0] for ln in rows})
    rng = random.Random(seed)
    val = set(rng.sample(qids, max(1, round(fraction * len(qids)))))
    if len(val) == len(qids):
        raise ValueError(f"{src} has too few queries ({len(qids)}) to carve a validation split from")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        link = out / name
        if not link.exists():
            os.symlink((data / name).resolve(), link)
    fit_name, val_name = f"{split}-fit", f"{split}-val"
    for name, keep in ((fit_name, False), (val_name, True)):
        body = [ln for ln in rows if (ln.split("\t")[0] in val) == keep]
        tmp = out / "qrels" / f"{name}.tsv.tmp"
        tmp.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
        tmp.replace(out / "qrels" / f"{name}.tsv")
    return fit_name, val_name


def weighted_objective(parts: dict[str, tuple[float, Evaluate]]) -> Evaluate:
    """path -> {"main_score": sum of weight * part's main_score, "<name>": each part's main_score}."""
    if not parts or any(w < 0 for w, _ in parts.values()) or sum(w for w, _ in parts.values()) <= 0:
        raise ValueError("the objective needs at least one part and non-negative weights that sum above 0")

    def evaluate(path: Path) -> dict:
        scores = {name: float(fn(path)["main_score"]) for name, (_, fn) in parts.items()}
        scores["main_score"] = sum(w * scores[name] for name, (w, _) in parts.items())
        return scores

    return evaluate
