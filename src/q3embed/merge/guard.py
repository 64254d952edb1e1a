"""The robustness guard: step a merged model back toward its base until an out-of-domain dev score
is within budget (WiSE-FT, Wortsman et al., 2022: slerp(base -> merged, t)).

``merge search`` (``search``) scores a grid of merges and keeps the best; the guard walks its grid
from t = 1.0 (the merged model itself) downward and keeps the first t whose score is at most
``max_drop`` below the base model's. Only dev data decides; if no grid point is within budget, the
smallest t is kept and the result says so. With ``scope``, only those tensors step back
(``scope: ffn``: the feed-forward blocks); the rest stay as merged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import merge_unless_held
from .schedule import names_in_scope, scoped_t

log = logging.getLogger(__name__)


@dataclass
class GuardResult:
    model: str            # the merged model, or the step back that was kept
    t: float              # 1.0: the merged model itself
    budget: float         # the base model's score minus max_drop
    within: bool          # False: no grid point reached the budget; t is the smallest tried
    scores: dict[float, float]  # every t tried -> its score, in the order tried

    def record(self, scope: str | None) -> dict:
        return {"t": self.t, "scope": scope, "budget": round(self.budget, 2), "within": self.within,
                "sts_dev": {str(k): v for k, v in self.scores.items()}}


def guard_search(base: str, merged: str, folder: str | Path, grid, max_drop: float,
                 score: Callable[[str], float], scope: str | None = None) -> GuardResult:
    """Walk ``grid`` (largest t first) until ``score(model)`` is within ``max_drop`` of ``score(base)``.

    Each step back is merged into ``folder`` (``guard-t0.8``, or ``guard-<scope>-t0.8``); a step
    merged by an earlier call is reused as it is."""
    if scope is not None:
        check_scope(scope, merged)
    budget = score(base) - max_drop
    tried = {1.0: score(merged)}
    model = merged
    for t in sorted(grid, reverse=True):
        if tried[min(tried)] >= budget:
            break
        model = str(Path(folder) / (f"guard-t{t:g}" if scope is None else f"guard-{_slug(scope)}-t{t:g}"))
        merge_unless_held([base, merged], model, "slerp", scoped_t(scope, t))  # the scope's tensors at t, the rest as merged
        tried[t] = score(model)
    t = min(tried)
    result = GuardResult(model if t < 1.0 else merged, t, budget, tried[t] >= budget, tried)
    log.info(f"guard ({scope or 'every tensor'}): score {tried[t]:.2f} at t={t:g} "
             f"({'within' if result.within else 'STILL OUTSIDE'} the budget >= {budget:.2f}); tried "
             + ", ".join(f"t={k:g}: {v:.2f}" for k, v in tried.items()))
    return result


def check_scope(scope: str, model: str) -> None:
    """A scope that names no tensor of ``model`` would make the guard a silent no-op: refuse it,
    naming a few of the model's tensor names."""
    from .sources import open_source

    names = open_source(model).names
    if not names_in_scope(scope, names):
        raise ValueError(f"scope {scope!r} matches no tensor of {model} "
                         f"(e.g. {', '.join(names[:3])}); use 'ffn', 'attention' or a regex of these names")


def _slug(scope: str) -> str:
    """A folder-name form of a guard scope: "ffn" stays, a regex keeps its letters and digits."""
    return "".join(ch if ch.isalnum() else "_" for ch in scope).strip("_")[:40] or "scope"
