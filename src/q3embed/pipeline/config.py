"""The three-stage recipe as data: a YAML file maps onto ``RecipeConfig``. No torch import.

Relative paths in the YAML are taken from the working directory, as in ``q3embed train``
configs (run from the repository root). Training sections hold the
trainer's own config keys (``EmbedTrainConfig``: batch_size, optim, loss, lora, data, ...);
the recipe fills in ``model``, ``output_dir`` and ``data.train_file`` for each stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from ..errors import Q3EmbedError


class RecipeError(Q3EmbedError, ValueError):
    """A recipe that cannot run: unknown key, wrong value, missing file, unavailable stage."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise RecipeError(msg)


@dataclass
class SynthStage:
    corpus: str
    llm_base_url: str | None = None
    llm_model: str | None = None
    weak: list[str] | None = None  # no LLM: weak pairs of these forms (title, first_sentence)
    out: str = "synth/pairs.jsonl"
    tasks: list[str] = field(default_factory=lambda: ["retrieval"])
    languages: list[str] = field(default_factory=lambda: ["en"])
    lengths: list[str] = field(default_factory=lambda: ["short", "medium", "long"])
    personas: str | None = None
    prompts: str | None = None
    n: int | None = None
    per_passage: int = 1
    candidates: int = 5
    concurrency: int = 8
    rate_limit: float | None = None
    max_retries: int = 5
    answer_retries: int = 3
    backoff: float = 0.5
    temperature: float = 0.7
    seed: int = 0
    llm_api_key: str | None = None
    allow_failed_fraction: float = 0.0  # jobs that may give up before the stage counts as failed

    def __post_init__(self) -> None:
        llm = self.llm_base_url is not None or self.llm_model is not None
        _check(llm != (self.weak is not None),
               "synth needs either llm_base_url and llm_model (LLM-written queries) or weak: [title, first_sentence] "
               "(weak pairs from the corpus, no LLM), not both")
        _check(not llm or (self.llm_base_url is not None and self.llm_model is not None),
               "synth needs both llm_base_url and llm_model")
        if self.weak is not None:
            from ..synth.weak import WeakConfig

            try:
                WeakConfig(tuple(self.weak), n=self.n)
            except ValueError as e:
                raise RecipeError(f"synth.weak: {e}") from None
        _check(0.0 <= self.allow_failed_fraction <= 1.0,
               f"synth.allow_failed_fraction must be in [0, 1], got {self.allow_failed_fraction}")


@dataclass
class FilterStage:
    threshold: float = 0.7
    model: str | None = None  # default: the recipe's base model
    batch_size: int = 32
    percentile: float | None = None  # instead of threshold: drop the lowest P% of the synthetic pairs
    fit_keep: float | None = None    # instead of threshold: the cut that keeps this share of stage2.labelled

    def __post_init__(self) -> None:
        _check(-1.0 <= self.threshold <= 1.0, f"filter.threshold must be a cosine in [-1, 1], got {self.threshold}")
        _check(self.percentile is None or self.fit_keep is None, "give at most one of filter.percentile and filter.fit_keep")
        _check(self.percentile is None or 0.0 <= self.percentile < 100.0,
               f"filter.percentile must be in [0, 100), got {self.percentile}")
        _check(self.fit_keep is None or 0.0 < self.fit_keep <= 1.0,
               f"filter.fit_keep must be a fraction in (0, 1], got {self.fit_keep}")


@dataclass
class Stage1:
    """Weakly supervised contrastive training on the synthetic pairs.

    ``pairs: all`` (the paper: stage 1 sees every synthetic pair) or ``filtered`` (only those the
    filter kept: for weak pairs from the corpus itself, where the cut removes noise rather than
    picking the best for stage 2)."""

    train: dict = field(default_factory=dict)
    pairs: str = "all"

    def __post_init__(self) -> None:
        _check(self.pairs in ("all", "filtered"), f"stage1.pairs must be all or filtered, got {self.pairs!r}")


@dataclass
class Stage2:
    """SFT on labelled pairs plus the filtered synthetic pairs; ``checkpoints`` are kept for merging."""

    labelled: str | None = None        # training JSONL, or a BEIR folder (its train qrels become pairs)
    labelled_split: str = "train"
    checkpoints: int = 2
    synthetic: bool = True             # the filtered synthetic pairs join the labelled ones (the paper)
    train: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.checkpoints >= 2, f"stage2.checkpoints must be >= 2 (they are merged in stage 3), got {self.checkpoints}")


@dataclass
class Stage3:
    method: str = "slerp"   # 2 checkpoints: slerp; more: multislerp (slerp's generalisation)
    t: float = 0.5

    def __post_init__(self) -> None:
        _check(self.method in ("slerp", "multislerp", "linear"),
               f"stage3.method must be slerp, multislerp or linear, got {self.method!r}")
        _check(0.0 <= self.t <= 1.0, f"stage3.t must be in [0, 1], got {self.t}")


@dataclass
class EvalSpec:
    retrieval: list[dict] = field(default_factory=list)  # [{data_dir, split, instruction}]
    sts: list[dict] = field(default_factory=list)        # [{path}]
    batch_size: int = 32
    dtype: str | None = None      # compute dtype of the evaluation (float32 is MTEB's); default: the device's
    cache_dir: str | None = None  # embedding cache shared with `q3embed eval` (unchanged models cost nothing)

    def __post_init__(self) -> None:
        _check(bool(self.retrieval or self.sts), "eval needs at least one retrieval or sts task")


@dataclass
class RecipeConfig:
    base_model: str
    output_dir: str
    eval: EvalSpec
    synthetic_pairs: str | None = None  # use existing pairs instead of a synth stage
    synth: SynthStage | None = None
    filter: FilterStage = field(default_factory=FilterStage)
    stage1: Stage1 = field(default_factory=Stage1)
    stage2: Stage2 = field(default_factory=Stage2)
    stage3: Stage3 = field(default_factory=Stage3)
    ablation: bool = True  # also train "w/o synthetic data" for the paper-shaped table
    device: str | None = None
    seed: int | None = None  # every training stage's seed, unless its train section sets one

    def __post_init__(self) -> None:
        _check((self.synth is None) != (self.synthetic_pairs is None),
               "give exactly one of 'synth' (generate pairs with an LLM) or 'synthetic_pairs' (an existing JSONL)")
        _check(self.stage2.labelled is not None, "stage2.labelled is required: labelled pairs (JSONL) or a BEIR folder")


_SECTIONS = {"eval": EvalSpec, "synth": SynthStage, "filter": FilterStage, "stage1": Stage1, "stage2": Stage2,
             "stage3": Stage3}
def load_recipe(path: str | Path, overrides: dict | None = None) -> RecipeConfig:
    """Read and validate a recipe YAML; ``overrides`` replace top-level keys."""
    from ..train.config import read_yaml

    path = Path(path)
    raw = read_yaml(path, RecipeError, "recipe file")
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections")
    for key, value in (overrides or {}).items():
        raw[key] = value
    return recipe_from_dict(expand_data_root(raw))


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


def recipe_from_dict(raw: dict) -> RecipeConfig:
    kwargs = {}
    names = {f.name for f in fields(RecipeConfig)}
    for key, value in raw.items():
        _check(key in names, f"unknown recipe key {key!r}; accepted: {', '.join(sorted(names))}")
        kwargs[key] = _section(key, value) if key in _SECTIONS else value
    for required in ("base_model", "output_dir", "eval"):
        _check(required in kwargs, f"recipe needs '{required}'")
    return RecipeConfig(**kwargs)


def _section(name: str, value):
    cls = _SECTIONS[name]
    if value is None and name == "synth":
        return None
    _check(isinstance(value, dict), f"recipe section '{name}' must be a mapping, got {type(value).__name__}")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - allowed)
    _check(not unknown, f"unknown key(s) {unknown} in '{name}'; accepted: {', '.join(sorted(allowed))}")
    # The trainer's config reader checks each value against the field's type, naming the key.
    from ..train.config import ConfigError, config_from_dict

    try:
        return config_from_dict(cls, value, f"{name}.")
    except ConfigError as e:
        raise RecipeError(str(e)) from None
