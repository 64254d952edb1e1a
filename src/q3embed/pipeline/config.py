"""The three-stage recipe as data: a YAML file maps onto ``RecipeConfig``. No torch import.

Relative paths in the YAML are taken from the working directory, as in ``q3embed train``
configs (run from the repository root). Training sections hold the
trainer's own config keys (``EmbedTrainConfig``: batch_size, optim, loss, lora, data, ...);
the recipe fills in ``model``, ``output_dir`` and ``data.train_file`` for each stage.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Literal

from ..errors import ConfigError
from ..schema import Field, TypedConfig, model_validator, read_yaml
from ..synth.generate import SynthConfig
from ..synth.weak import Form, WeakConfig
from ..train.config import EmbedTrainConfig


class RecipeError(ConfigError):
    """A recipe that cannot run: unknown key, wrong value, missing file, unavailable stage."""


class _RecipePart(TypedConfig):
    error = RecipeError
    noun = "recipe key"


class SynthStage(_RecipePart, SynthConfig):
    """The synth stage: what to plan (``SynthConfig``'s keys: tasks, languages, lengths, per_passage, n,
    candidates, answer_retries, seed) plus where from and how to reach the LLM, or ``weak`` forms."""

    section = "synth"
    corpus: str
    llm_base_url: str | None = None
    llm_model: str | None = None
    weak: tuple[Form, ...] | None = Field(None, min_length=1)  # no LLM: weak pairs of these forms
    out: str = "synth/pairs.jsonl"
    personas: str | None = None
    prompts: str | None = None
    concurrency: int = Field(8, ge=1)
    rate_limit: float | None = Field(None, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff: float = Field(0.5, ge=0)
    temperature: float = Field(0.7, ge=0)
    llm_api_key: str | None = None
    allow_failed_fraction: float = Field(0.0, ge=0.0, le=1.0)  # jobs that may give up before the stage counts as failed

    @model_validator(mode="after")
    def _source(self):
        llm = self.llm_base_url is not None or self.llm_model is not None
        if llm == (self.weak is not None):
            raise ValueError("synth needs either llm_base_url and llm_model (LLM-written queries) or weak: "
                             "[title, first_sentence] (weak pairs from the corpus, no LLM), not both")
        if llm and (self.llm_base_url is None or self.llm_model is None):
            raise ValueError("synth needs both llm_base_url and llm_model")
        return self

    def synth_config(self) -> SynthConfig:
        return SynthConfig(**{k: getattr(self, k) for k in SynthConfig.model_fields})

    def weak_config(self) -> WeakConfig:
        return WeakConfig(forms=self.weak, n=self.n)


class FilterStage(_RecipePart):
    section = "filter"
    threshold: float = 0.7
    model: str | None = None  # default: the recipe's base model
    batch_size: int = 32
    percentile: float | None = Field(None, ge=0.0, lt=100.0)  # instead of threshold: drop the lowest P% of the synthetic pairs
    fit_keep: float | None = Field(None, gt=0.0, le=1.0)  # instead of threshold: the cut that keeps this share of stage2.labelled

    @model_validator(mode="after")
    def _cut(self):
        if not -1.0 <= self.threshold <= 1.0:
            raise ValueError(f"filter.threshold must be a cosine in [-1, 1], got {self.threshold}")
        if self.percentile is not None and self.fit_keep is not None:
            raise ValueError("give at most one of filter.percentile and filter.fit_keep")
        return self


class Stage1(_RecipePart):
    """Weakly supervised contrastive training on the synthetic pairs.

    ``pairs: all`` (the paper: stage 1 sees every synthetic pair) or ``filtered`` (only those the
    filter kept: for weak pairs from the corpus itself, where the cut removes noise rather than
    picking the best for stage 2)."""

    section = "stage1"
    train: dict = Field(default_factory=dict)  # EmbedTrainConfig's keys; validated with the recipe (stage_train_config)
    pairs: Literal["all", "filtered"] = "all"


class Stage2(_RecipePart):
    """SFT on labelled pairs plus the filtered synthetic pairs; ``checkpoints`` are kept for merging."""

    section = "stage2"
    labelled: str | None = None        # training JSONL, or a BEIR folder (its train qrels become pairs)
    labelled_split: str = "train"
    checkpoints: int = Field(2, ge=2)  # they are merged in stage 3
    runs: int = Field(1, ge=1)         # independent runs from the same start, seeds seed + 1000 * r (stage3.inputs: runs)
    synthetic: bool = True             # the filtered synthetic pairs join the labelled ones (the paper)
    train: dict = Field(default_factory=dict)  # EmbedTrainConfig's keys, as stage1.train


class RobustnessGuard(_RecipePart):
    """Step the merged model back toward the base until an out-of-domain dev score is within budget.

    WiSE-FT (Wortsman et al., 2022): slerp(base -> merged, t). ``t`` is the largest value of
    ``grid`` (1.0, the merged model itself, is tried first) whose Spearman on ``sts_dev`` is at
    most ``max_drop`` points (x100) below the base model's. Only dev data decides; if no grid
    point is within budget, the smallest t is kept and the log says so. With ``scope``, only
    those tensors step back (``scope: ffn``: the feed-forward blocks, where most of MiniLM's STS
    loss from SciFact fine-tuning sits: docs/benchmarks.md, "Settled findings")."""

    section = "stage3.guard"
    sts_dev: str
    max_drop: float = Field(0.5, ge=0.0)
    grid: tuple[float, ...] = Field((0.9, 0.8, 0.7, 0.6, 0.5), min_length=1)
    # which tensors step back: None = all (WiSE-FT); "ffn", "attention" (merge.schedule.NAMED_SCOPES)
    # or a regex of tensor names. The rest stay as merged.
    scope: str | None = None

    @model_validator(mode="after")
    def _grid(self):
        if any(not 0.0 <= t < 1.0 for t in self.grid):
            raise ValueError(f"stage3.guard.grid values must be in [0, 1), got {list(self.grid)}")
        self.grid = tuple(sorted(self.grid, reverse=True))
        if self.scope is not None:
            try:
                re.compile(self.scope)
            except re.error as e:
                raise ValueError(f"stage3.guard.scope {self.scope!r} is not 'ffn', 'attention' or a valid regex ({e})") from None
            if "=" in self.scope:
                raise ValueError(f"stage3.guard.scope {self.scope!r} may not contain '=' (it separates a t rule's filter from its value)")
        return self


class Stage3(_RecipePart):
    """What stage 3 merges, and how.

    ``inputs: checkpoints`` (the paper): the last ``stage2.checkpoints`` checkpoints of one run.
    ``inputs: runs``: the final model of each of ``stage2.runs`` runs, a model soup (``method:
    linear`` is the uniform soup). Checkpoints of one run lie on one trajectory and their merge
    lands between them; runs that differ in data order and dropout can average into a model
    better than each (the model-soup literature). On SciFact with MiniLM the two scored alike
    (docs/benchmarks.md, "Merging")."""

    section = "stage3"
    method: Literal["slerp", "multislerp", "linear"] = "slerp"  # 2 checkpoints: slerp; more: multislerp (slerp's generalisation)
    t: float = Field(0.5, ge=0.0, le=1.0)
    inputs: Literal["checkpoints", "runs"] = "checkpoints"
    guard: RobustnessGuard | None = None  # then: step back toward the base while STS dev drops too much


class RetrievalTask(_RecipePart):
    """A BEIR folder scored by nDCG@10 on ``split``."""

    section = "eval.retrieval[]"
    data_dir: str
    split: str = "test"
    instruction: str | None = None  # default: the model's


class StsTask(_RecipePart):
    """A sentence1,sentence2,score CSV scored by Spearman."""

    section = "eval.sts[]"
    path: str


class EvalSpec(_RecipePart):
    section = "eval"
    retrieval: list[RetrievalTask] = Field(default_factory=list)
    sts: list[StsTask] = Field(default_factory=list)
    batch_size: int = 32
    dtype: str | None = None      # compute dtype of the evaluation (float32 is MTEB's); default: the device's
    cache_dir: str | None = None  # embedding cache shared with `q3embed eval` (unchanged models cost nothing)

    @model_validator(mode="after")
    def _some(self):
        if not (self.retrieval or self.sts):
            raise ValueError("eval needs at least one retrieval or sts task")
        return self


class RecipeConfig(_RecipePart):
    base_model: str
    output_dir: str
    eval: EvalSpec
    synthetic_pairs: str | None = None  # use existing pairs instead of a synth stage
    synth: SynthStage | None = None
    filter: FilterStage = Field(default_factory=FilterStage)
    stage1: Stage1 = Field(default_factory=Stage1)
    stage2: Stage2 = Field(default_factory=Stage2)
    stage3: Stage3 = Field(default_factory=Stage3)
    ablation: bool = True  # also train "w/o synthetic data" for the paper-shaped table
    device: str | None = None
    seed: int | None = None  # every training stage's seed, unless its train section sets one

    @model_validator(mode="after")
    def _sources(self):
        if (self.synth is None) == (self.synthetic_pairs is None):
            raise ValueError("give exactly one of 'synth' (generate pairs with an LLM) or 'synthetic_pairs' (an existing JSONL)")
        if self.stage2.labelled is None:
            raise ValueError("stage2.labelled is required: labelled pairs (JSONL) or a BEIR folder")
        if self.stage3.inputs == "runs" and self.stage2.runs < 2:
            raise ValueError(f"stage3.inputs: runs merges the final models of stage2.runs runs; "
                             f"stage2.runs is {self.stage2.runs}, it needs 2 or more")
        for stage in ("stage1", "stage2"):  # a typo in a training section fails now, not after the stages before it
            try:
                stage_train_config(self, stage, model="-", train_file="-", output_dir="-")
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return self


def stage_train_config(recipe: RecipeConfig, stage: str, model: str, train_file: str, output_dir: str | Path,
                       seed: int | None = None, progress: bool = False) -> EmbedTrainConfig:
    """A training stage's ``EmbedTrainConfig``: its recipe section (the trainer's own keys) plus what the
    pipeline decides (model, data, output folder, a run's seed). ``stage`` is stage1, stage2 or ablation
    (which trains with stage2's section)."""
    raw = copy.deepcopy((recipe.stage1 if stage == "stage1" else recipe.stage2).train)
    data = raw.setdefault("data", {})
    if isinstance(data, dict):
        data.setdefault("num_negatives", 0)  # synthetic pairs mostly have none; in-batch negatives remain
        data["train_file"] = train_file
        if data["num_negatives"] == 0 and isinstance(raw.setdefault("loss", {}), dict):
            raw["loss"].setdefault("hard_negatives", False)
    raw.update(model=model, output_dir=str(output_dir))
    raw.setdefault("progress", progress)
    if recipe.seed is not None:
        raw.setdefault("seed", recipe.seed)
    if seed is not None:
        raw["seed"] = seed
    if recipe.device is not None:
        raw.setdefault("device", recipe.device)
    try:
        return EmbedTrainConfig.from_dict(raw, where=f"{'stage2' if stage == 'ablation' else stage}.train.")
    except ConfigError as e:
        raise RecipeError(str(e)) from None


def load_recipe(path: str | Path, overrides: dict | None = None) -> RecipeConfig:
    """Read and validate a recipe YAML; ``overrides`` replace top-level keys."""
    path = Path(path)
    raw = read_yaml(path, RecipeError, "recipe file")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections")
    for key, value in (overrides or {}).items():
        raw[key] = value
    return RecipeConfig.from_dict(expand_data_root(raw))


def expand_data_root(raw: dict) -> dict:
    """Replace ``${data_root}`` in every string with the recipe's ``data_root`` (default: data).

    The one setting through which a recipe finds its evaluation and training data: the folder that
    ``q3embed data fetch`` writes to. Paths stay relative to the working directory.
    """
    from ..eval.fetch import DEFAULT_DATA_DIR

    raw = dict(raw)
    root = str(raw.pop("data_root", None) or DEFAULT_DATA_DIR)

    def expand(value):
        if isinstance(value, str):
            return value.replace("${data_root}", root)
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v) for v in value]
        return value

    return expand(raw)

