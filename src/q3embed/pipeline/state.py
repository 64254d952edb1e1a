"""A recipe run's record, ``<output_dir>/pipeline_state.json``, and what every stage function is handed.

The record holds, per stage, its outputs once it finished (``stages``) and the fingerprint of
what it was started from (``inputs``, see ``fingerprint``); per evaluation its scores (``evals``)
and their fingerprint (``eval_inputs``); and the wall and CPU seconds of each (``costs``). It is
rewritten atomically after every change, so a kill leaves the previous or the next version.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .config import RecipeConfig
from .fingerprint import StageInputs

STATE_FILE = "pipeline_state.json"
PARTS = ("stages", "inputs", "evals", "eval_inputs", "costs")


class RunState:
    """The parts of ``pipeline_state.json`` as dicts, and their atomic save."""

    def __init__(self, out: Path):
        self.path = out / STATE_FILE
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        # other keys (notes a tool added, such as where shared stages came from) are kept as they are
        self.parts: dict = {**saved, **{part: saved.get(part, {}) for part in PARTS}}

    def __getattr__(self, part: str) -> dict:  # state.stages, state.evals, ...
        if part in PARTS:
            return self.parts[part]
        raise AttributeError(part)

    def save(self) -> None:
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(self.parts, indent=2))
        tmp.replace(self.path)

    @contextmanager
    def cost(self, name: str):
        """Add the wall and CPU seconds (this process, all threads) of a stage or an evaluation.

        A resumed stage adds the time of each call, so the total stays honest across kills
        (work lost to a kill is counted too)."""
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            prev = self.costs.get(name, {"wall_s": 0.0, "cpu_s": 0.0})
            self.costs[name] = {"wall_s": round(prev["wall_s"] + time.perf_counter() - w0, 1),
                                "cpu_s": round(prev["cpu_s"] + time.process_time() - c0, 1)}
            self.save()


@dataclass
class Run:
    """What a stage function reads: the recipe, the record, each stage's inputs, and whether to draw bars."""

    cfg: RecipeConfig
    state: RunState
    inputs: dict[str, StageInputs] = field(default_factory=dict)
    show_progress: bool = False

    @property
    def out(self) -> Path:
        return Path(self.cfg.output_dir)

    def outputs(self, stage: str) -> dict:
        """A finished stage's outputs, as recorded."""
        return self.state.stages[stage]
