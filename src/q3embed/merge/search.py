"""``merge search``: evaluate a grid of merges and keep the best (stage 3 as a user runs it).

Candidates are each input checkpoint as it is (the baselines), then either a grid of slerp
factors between two checkpoints, or a uniform multislerp of every subset of two or more.
Each candidate is merged into ``work_dir``, evaluated with the caller's evaluator (a
function from a checkpoint directory to a result dict with ``main_score``), and the table
says which scored best. Merges already in ``work_dir`` from an earlier run with the same
recipe are reused, and so are the evaluator's cached embeddings for unchanged checkpoints.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .checkpoints import merge_unless_held
from .schedule import parse_values

STRATEGIES = ("auto", "t-grid", "subsets")
DEFAULT_GRID = (0.25, 0.5, 0.75)

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    label: str
    inputs: list[str]
    method: str | None = None  # None: the input checkpoint itself
    t: float | None = None

    @property
    def slug(self) -> str:
        if self.method == "slerp":
            return f"slerp-t{self.t:g}"
        return "multislerp-" + "+".join(Path(p).name for p in self.inputs)


@dataclass
class SearchRow:
    candidate: Candidate
    scores: dict
    path: Path


@dataclass
class SearchResult:
    rows: list[SearchRow] = field(default_factory=list)

    @property
    def best(self) -> SearchRow:
        return max(self.rows, key=lambda r: r.scores["main_score"])


def candidates(checkpoints: list[str], strategy: str = "auto", grid=DEFAULT_GRID) -> list[Candidate]:
    """The inputs alone, then the merges the strategy asks for (module docstring)."""
    if len(checkpoints) < 2:
        raise ValueError(f"merge search needs at least 2 checkpoints, got {len(checkpoints)}")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not known; accepted: {', '.join(STRATEGIES)}")
    if strategy == "auto":
        strategy = "t-grid" if len(checkpoints) == 2 else "subsets"
    names = [Path(c).name for c in checkpoints]
    out = [Candidate(name, [c]) for name, c in zip(names, checkpoints)]
    if strategy == "t-grid":
        if len(checkpoints) != 2:
            raise ValueError(f"the t-grid strategy slerps exactly 2 checkpoints, got {len(checkpoints)}; use subsets")
        for t in grid:
            if 0.0 < t < 1.0:  # t=0 and t=1 are the inputs themselves, already listed
                out.append(Candidate(f"slerp t={t:g} ({names[0]} → {names[1]})", list(checkpoints), "slerp", t))
    else:
        for k in range(2, len(checkpoints) + 1):
            for subset in itertools.combinations(range(len(checkpoints)), k):
                label = "multislerp " + " + ".join(names[i] for i in subset)
                out.append(Candidate(label, [checkpoints[i] for i in subset], "multislerp"))
    return out


def parse_grid(text: str) -> list[float]:
    return parse_values(text, what="grid value")


def merge_search(checkpoints: list[str], evaluate: Callable[[Path], dict], work_dir: str | Path,
                 strategy: str = "auto", grid=DEFAULT_GRID, lora_base=None, keep: bool = True) -> SearchResult:
    """Merge and evaluate every candidate; ``evaluate(path)`` returns a dict with ``main_score``."""
    todo = candidates([str(c) for c in checkpoints], strategy, grid)  # refuses bad input before any output
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    result = SearchResult()
    for i, cand in enumerate(todo):
        if cand.method is None:
            path = Path(cand.inputs[0])
        else:
            path = work_dir / f"{i:02d}-{cand.slug}"  # the index keeps same-named inputs apart
            if merge_unless_held(cand.inputs, path, cand.method, cand.t, lora_base=lora_base) is not None:
                log.info(f"merged {cand.label} -> {path}")
        log.info(f"evaluating {cand.label}")
        scores = evaluate(path)
        if "main_score" not in scores:
            raise ValueError(f"the evaluator returned no 'main_score' for {cand.label} (keys: {', '.join(scores)})")
        result.rows.append(SearchRow(cand, scores, path))
        log.info(f"  {cand.label}: main_score {scores['main_score']:.4f}")
        if not keep and cand.method is not None:
            shutil.rmtree(path, ignore_errors=True)
    return result


def remove_candidates(result: SearchResult, work_dir: str | Path) -> None:
    """Delete the candidate merges (never the input checkpoints), and ``work_dir`` if that empties it."""
    for row in result.rows:
        if row.candidate.method is not None:
            shutil.rmtree(row.path, ignore_errors=True)
    work_dir = Path(work_dir)
    if work_dir.exists() and not any(work_dir.iterdir()):
        work_dir.rmdir()


TASKS = ("retrieval", "sts")


def evaluator(task: str, data: str | Path, split: str = "test", instruction: str | None = None,
              dim: int | None = None, batch_size: int = 32, device=None, dtype=None,
              cache_dir: str | Path | None = None, show_progress: bool = False) -> Callable[[Path], dict]:
    """A function checkpoint dir -> scores, using q3embed.eval (retrieval: BEIR folder; sts: CSV)."""
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not known; accepted: {', '.join(TASKS)}")

    def evaluate(path: Path) -> dict:
        from ..engine import Embedder
        from ..eval import evaluate_retrieval, evaluate_sts

        emb = Embedder.load(path, device=device, dtype=dtype)
        if task == "retrieval":
            return evaluate_retrieval(emb, data, split=split, instruction=instruction, dim=dim,
                                      batch_size=batch_size, cache_dir=cache_dir, show_progress=show_progress)
        return evaluate_sts(emb, data, instruction=instruction, dim=dim, batch_size=batch_size,
                            cache_dir=cache_dir, show_progress=show_progress)

    return evaluate


def format_table(result: SearchResult, metrics=("main_score",)) -> str:
    """A markdown table, one row per candidate, best marked; scores ×100."""
    best = result.best
    lines = ["| candidate | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for row in result.rows:
        mark = " **(best)**" if row is best else ""
        cells = " | ".join(f"{100 * row.scores[m]:.2f}" if isinstance(row.scores.get(m), (int, float)) else "–"
                           for m in metrics)
        lines.append(f"| {row.candidate.label}{mark} | {cells} |")
    return "\n".join(lines)
