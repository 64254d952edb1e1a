"""The paper's cosine filter: keep a synthetic pair only if cosine(query, positive) > threshold.

Queries are embedded with the record's instruction (Qwen3 query format), positives as plain
documents, as at training time. For encoder baselines (e.g. MiniLM) the instruction is left
out, since they were not trained with one. A record with several positives keeps those above
the threshold and is dropped when none is left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.pairs import pair_record, read_pair_records, write_pairs  # noqa: F401 (write_pairs: kept import path)


@dataclass
class FilterResult:
    threshold: float
    scores: np.ndarray              # (P,) float32: one per (query, positive) pair
    kept: list[dict] = field(default_factory=list)
    n_records: int = 0

    @property
    def n_kept(self) -> int:
        return len(self.kept)

    @property
    def n_dropped(self) -> int:
        return self.n_records - self.n_kept

    @property
    def pairs_kept(self) -> int:
        return int((self.scores > self.threshold).sum())


def read_pairs(path: str | Path) -> list[dict]:
    """Pair records in the q3embed format (``query``, ``pos`` list, ...; other fields kept), checked
    against the data layer's one TrainPair schema, so the filter accepts what training accepts."""
    return [pair_record(rec, pair) for rec, pair in read_pair_records(path, "pairs file")]


def pair_scores(embedder, records: list[dict], batch_size: int = 32, use_instruction: bool | None = None,
                show_progress: bool = False) -> np.ndarray:
    """(P,) float32 cosine of every (query, positive) pair, records in order, positives in order."""
    if use_instruction is None:
        use_instruction = embedder.layout.is_decoder
    positives = _positives(records)
    owner = np.repeat(np.arange(len(records)), [len(p) for p in positives])  # (P,) record index of each pair
    flat_pos = [p for ps in positives for p in ps]

    q = None  # (N, d) query vectors
    # Queries sharing an instruction are embedded together (one call per instruction).
    by_inst: dict[str | None, list[int]] = {}
    for i, r in enumerate(records):
        by_inst.setdefault(r.get("instruction") if use_instruction else None, []).append(i)
    for inst, idx in by_inst.items():
        vecs = embedder.encode([records[i]["query"] for i in idx], instruction=inst or None,
                               batch_size=batch_size, show_progress=show_progress)  # (n, d)
        if q is None:
            q = np.zeros((len(records), vecs.shape[1]), dtype=np.float32)
        q[idx] = vecs
    d = embedder.encode(flat_pos, batch_size=batch_size, show_progress=show_progress)  # (P, d)
    return np.einsum("pd,pd->p", q[owner], d).astype(np.float32)  # both L2-normalised: dot = cosine


def select_pairs(records: list[dict], scores: np.ndarray, threshold: float = 0.7, model: str = "") -> FilterResult:
    """Keep the positives scoring > threshold; a record with none left is dropped."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
    result = FilterResult(threshold=threshold, scores=scores, n_records=len(records))
    start = 0
    for rec, pos in zip(records, _positives(records)):
        mine = scores[start: start + len(pos)]
        start += len(pos)
        keep = [(p, float(s)) for p, s in zip(pos, mine) if s > threshold]
        if keep:
            out = dict(rec, pos=[p for p, _ in keep])
            # "cosine" lines up with the kept "pos"; the dropped positives' scores are kept apart
            out["filter"] = {"cosine": [round(s, 4) for _, s in keep], "threshold": threshold, "model": model}
            dropped = [round(float(s), 4) for s in mine if not s > threshold]
            if dropped:
                out["filter"]["dropped_cosine"] = dropped
            result.kept.append(out)
    return result


def cosine_filter(embedder, records: list[dict], threshold: float = 0.7, batch_size: int = 32,
                  use_instruction: bool | None = None, show_progress: bool = False) -> FilterResult:
    """Score every (query, positive) pair with ``embedder`` and keep those above ``threshold``."""
    if not -1.0 <= threshold <= 1.0:  # before the embedding work
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
    scores = pair_scores(embedder, records, batch_size, use_instruction, show_progress)
    return select_pairs(records, scores, threshold, getattr(embedder, "name", ""))


def percentile_threshold(scores: np.ndarray, percentile: float) -> float:
    """The cut that drops the lowest ``percentile`` % of ``scores`` (the pairs being filtered).

    A relative rule: it keeps about (100 - percentile) % whatever the model's cosine scale.
    """
    if not 0.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}")
    if len(scores) == 0:
        raise ValueError("no scores to take a percentile of")
    # 'lower': the threshold is an observed score, so '>' drops exactly the scores at or below it
    return float(np.percentile(np.asarray(scores, dtype=np.float64), percentile, method="lower")) \
        if percentile > 0 else float(np.min(scores)) - 1e-6


def fitted_threshold(good_scores: np.ndarray, keep: float) -> float:
    """The cut under which only (1 - ``keep``) of known-good pairs' scores fall.

    Fitted on pairs known to be right (e.g. labelled training pairs), it transfers the meaning
    of the paper's 0.7 for Qwen3 ("a genuine pair scores above this") to any model.
    """
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
    return percentile_threshold(good_scores, 100.0 * (1.0 - keep))


def _positives(records: list[dict]) -> list[list[str]]:
    return [[p] if isinstance(p, str) else list(p) for p in (r["pos"] for r in records)]


def text_histogram(scores: np.ndarray, threshold: float, bins: int = 20, width: int = 40,
                   lo: float = -0.2, hi: float = 1.0) -> str:
    """A fixed-range histogram of cosines; rows at or above the threshold are marked '*'."""
    edges = np.linspace(lo, hi, bins + 1)
    clipped = np.clip(np.asarray(scores, dtype=np.float64), lo, hi)  # float64: a float32 -0.2 falls below edge 0
    counts, _ = np.histogram(clipped, bins=edges)
    peak = max(1, int(counts.max()))
    rows = []
    for c, a, b in zip(counts, edges[:-1], edges[1:]):
        mark = "*" if a >= threshold else " "
        rows.append(f"{a:+.2f}..{b:+.2f} {mark} {'#' * round(width * c / peak):<{width}} {c}")
    return "\n".join(rows)


def histogram_png(scores: np.ndarray, threshold: float, path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=40, range=(-0.2, 1.0), color="#4878a8")
    ax.axvline(threshold, color="#c44e52", linestyle="--", label=f"threshold {threshold}")
    ax.set_xlabel("cosine(query, positive)")
    ax.set_ylabel("pairs")
    ax.set_title(title or f"{int((scores > threshold).sum())} of {len(scores)} pairs kept")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
