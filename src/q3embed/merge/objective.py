"""Choosing a merge on validation data only: a carved split of TRAIN queries plus an STS dev set.

The paper's claim for merging is robustness, so a merge is picked by a weighted sum of an
in-domain score (nDCG@10 on validation queries carved out of the *train* split) and an
out-of-domain score (Spearman on an STS dev set). Test queries are never read here: carving
from a split called ``test`` is refused.

``carve_validation`` writes ``qrels/<name>-val.tsv`` and ``qrels/<name>-fit.tsv`` next to a
BEIR folder's files (a new folder that links the corpus and queries), a seeded split by
query. Fine-tune on ``-fit`` and select on ``-val``, or the validation queries were trained on.

Scoring validation queries against the whole corpus costs a full corpus embedding per
candidate. ``corpus_docs=N`` makes the folder's corpus a small one instead: the validation
queries' positives, their mined hard negatives (``negatives``: a ``q3embed mine`` JSONL) and a
seeded N others -- cheap enough to score many candidates, and still hard.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path

from ..errors import InputFileError

Evaluate = Callable[[Path], dict]


def carve_validation(data: str | Path, out: str | Path, split: str = "train", fraction: float = 0.2,
                     seed: int = 0, corpus_docs: int | None = None,
                     negatives: str | Path | None = None) -> tuple[str, str]:
    """Split ``split``'s queries into (``<split>-fit``, ``<split>-val``) qrels in ``out``; their names.

    ``out`` links ``corpus.jsonl`` and ``queries.jsonl`` of ``data`` (no copy) and gets the two
    qrels files; rerunning with the same arguments writes the same files. With ``corpus_docs``
    its corpus.jsonl is instead the validation sub-corpus (module docstring).
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
    if corpus_docs is not None and corpus_docs < 0:
        raise ValueError(f"corpus_docs must be >= 0, got {corpus_docs}")
    if negatives is not None and corpus_docs is None:
        raise ValueError("negatives only shape a validation sub-corpus: pass corpus_docs too")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        link = out / name
        if name == "corpus.jsonl" and corpus_docs is not None:
            _write_subcorpus(data, link, {ln.split("\t")[1] for ln in rows if ln.split("\t")[0] in val}, val,
                             negatives, corpus_docs, seed)
        elif not link.exists() or (link.is_file() and not link.is_symlink()):
            link.unlink(missing_ok=True)  # a sub-corpus from an earlier call gives way to the full one
            os.symlink((data / name).resolve(), link)
    fit_name, val_name = f"{split}-fit", f"{split}-val"
    for name, keep in ((fit_name, False), (val_name, True)):
        body = [ln for ln in rows if (ln.split("\t")[0] in val) == keep]
        tmp = out / "qrels" / f"{name}.tsv.tmp"
        tmp.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
        tmp.replace(out / "qrels" / f"{name}.tsv")
    return fit_name, val_name


def _write_subcorpus(data: Path, dest: Path, positives: set[str], val_qids: set[str], negatives,
                     extra: int, seed: int) -> None:
    """corpus.jsonl lines of ``data`` kept: ``positives``, the mined negatives of ``val_qids``, ``extra`` random others."""
    from ..data.jsonl import iter_jsonl, read_lines
    from ..eval.beir import read_corpus, read_queries

    keep = set(positives)
    if negatives is not None:
        by_text = {text: doc for doc, text in read_corpus(data / "corpus.jsonl").items()}
        queries = read_queries(data / "queries.jsonl")
        val_texts = {queries[q] for q in val_qids if q in queries}
        for n, row in iter_jsonl(negatives, "mined negatives"):
            if row.get("query") in val_texts:
                for text in row.get("neg", []):
                    if text not in by_text:
                        raise InputFileError(f"{negatives}:{n}: a negative is not a document of {data}/corpus.jsonl")
                    keep.add(by_text[text])
    lines = [ln for ln in read_lines(data / "corpus.jsonl", "corpus") if ln.strip()]
    ids = [str(rec["_id"]) for _, rec in iter_jsonl(data / "corpus.jsonl", "corpus", lines=lines)]
    others = sorted(set(ids) - keep)
    keep |= set(random.Random(seed).sample(others, min(extra, len(others))))
    dest.unlink(missing_ok=True)  # may be the link to the full corpus: never write through it
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_text("".join(ln + "\n" for ln, i in zip(lines, ids) if i in keep), encoding="utf-8")
    tmp.replace(dest)


def weighted_objective(parts: dict[str, tuple[float, Evaluate]]) -> Evaluate:
    """path -> {"main_score": sum of weight * part's main_score, "<name>": each part's main_score}."""
    if not parts or any(w < 0 for w, _ in parts.values()) or sum(w for w, _ in parts.values()) <= 0:
        raise ValueError("the objective needs at least one part and non-negative weights that sum above 0")

    def evaluate(path: Path) -> dict:
        scores = {name: float(fn(path)["main_score"]) for name, (_, fn) in parts.items()}
        scores["main_score"] = sum(w * scores[name] for name, (w, _) in parts.items())
        return scores

    return evaluate


def validation_objective(val_data: str | Path, work: str | Path, sts_dev: str | Path | None = None,
                         sts_weight: float = 0.5, split: str = "train", fraction: float = 0.2, seed: int = 0,
                         corpus_docs: int | None = None, negatives: str | Path | None = None,
                         **eval_kwargs) -> tuple[Evaluate, tuple[str, ...]]:
    """(evaluate, its table columns) for (1-w) * nDCG@10 on validation queries carved from ``split``
    of ``val_data`` (into ``work/val-data``) + w * Spearman on ``sts_dev``; ``eval_kwargs`` go to
    ``search.evaluator`` (instruction, dim, batch_size, device, dtype, cache_dir, show_progress)."""
    from .search import evaluator

    check_objective(sts_dev, sts_weight, corpus_docs, negatives)
    folder = Path(work) / "val-data"
    _, val_split = carve_validation(val_data, folder, split, fraction, seed, corpus_docs=corpus_docs, negatives=negatives)
    parts = {"val_ndcg_at_10": (1.0 - sts_weight, evaluator("retrieval", folder, split=val_split, **eval_kwargs))}
    if sts_weight > 0:
        parts["sts_dev"] = (sts_weight, evaluator("sts", sts_dev, **eval_kwargs))
    return weighted_objective(parts), ("main_score", *parts)


def check_objective(sts_dev, sts_weight: float, corpus_docs: int | None, negatives) -> None:
    """The validation objective's settings, before any file is read (a test set is refused by name)."""
    if not 0.0 <= sts_weight <= 1.0:
        raise ValueError(f"--sts-weight must be in [0, 1], got {sts_weight}")
    if sts_weight > 0 and not sts_dev:
        raise ValueError("--sts-weight > 0 needs --sts-dev CSV (or pass --sts-weight 0)")
    if sts_dev and "test" in Path(sts_dev).name.lower():
        raise ValueError(f"--sts-dev {sts_dev} looks like a test set; choose on the dev split")
    if negatives and corpus_docs is None:
        raise ValueError("--val-negatives shapes the validation sub-corpus: give --val-corpus-docs N too")
