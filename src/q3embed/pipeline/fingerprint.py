"""What each pipeline stage was made from, so that an edited recipe never passes old outputs off as current.

A stage's *inputs* are the dotted recipe keys that decide its outputs (its section, with the
training config's defaults filled in, and the seed), the identity of the files it reads (the
corpus, the labelled pairs, the base model) and the fingerprint of every earlier stage whose
outputs it consumes. Their hash is the stage's fingerprint. The chain makes a change travel
downstream: a new ``filter.percentile`` changes filter's fingerprint, and so stage 1's, stage 2's
and stage 3's, but not the ablation's, which never reads the filtered pairs.

Keys that change how a stage runs but not what it makes are left out (device, progress bars,
the LLM's address and API key, concurrency and retries, scoring batch sizes, caches), so a resume
on another device is still a resume. No secret reaches ``pipeline_state.json``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import RecipeConfig

# Recipe keys that never change a stage's outputs; ``*`` matches one training section (stage1, stage2).
RUN_ONLY = {
    "synth.out", "synth.concurrency", "synth.rate_limit", "synth.max_retries", "synth.backoff",
    "synth.llm_api_key", "synth.llm_base_url", "synth.allow_failed_fraction",
    "filter.batch_size", "eval.batch_size", "eval.cache_dir",
}
RUN_ONLY_TRAIN = {"model", "output_dir", "data.train_file", "device", "progress", "resume", "log_every", "tensorboard"}


@dataclass(frozen=True)
class StageInputs:
    """One stage's inputs as dotted keys (``filter.percentile``, ``file stage2.labelled``, ``after synth``)."""

    keys: dict

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.keys, sort_keys=True).encode()).hexdigest()[:16]

    def record(self) -> dict:
        return {"fingerprint": self.fingerprint, "keys": self.keys}


def stage_inputs(cfg: RecipeConfig, train_keys: Callable[[str], dict]) -> dict[str, StageInputs]:
    """Every stage's inputs, in run order; ``train_keys(stage)`` gives a training section's effective
    config as a mapping (the trainer's defaults filled in)."""
    base = {"base_model": cfg.base_model, "file base_model": file_identity(cfg.base_model)}
    seed = {"seed": cfg.seed}
    out: dict[str, StageInputs] = {}

    if cfg.synthetic_pairs:
        synth = {"synthetic_pairs": cfg.synthetic_pairs, "file synthetic_pairs": file_identity(cfg.synthetic_pairs)}
    else:
        s = cfg.synth
        synth = {**_section("synth", s.model_dump(mode="json")), "file synth.corpus": file_identity(s.corpus),
                 "file synth.personas": file_identity(s.personas), "file synth.prompts": file_identity(s.prompts)}
    out["synth"] = StageInputs(synth)

    f = cfg.filter
    filt = {**_section("filter", f.model_dump(mode="json")), "after synth": out["synth"].fingerprint}
    if f.model is None:
        filt.update(base)
    else:
        filt["file filter.model"] = file_identity(f.model)
    if f.fit_keep is not None:
        filt.update(_labelled(cfg))
    out["filter"] = StageInputs(filt)

    upstream = "filter" if cfg.stage1.pairs == "filtered" else "synth"
    out["stage1"] = StageInputs({**base, **seed, "stage1.pairs": cfg.stage1.pairs,
                                 **_section("stage1.train", train_keys("stage1"), RUN_ONLY_TRAIN),
                                 f"after {upstream}": out[upstream].fingerprint})

    stage2 = {**seed, **_section("stage2", cfg.stage2.model_dump(mode="json", exclude={"train"})),
              **_section("stage2.train", train_keys("stage2"), RUN_ONLY_TRAIN), **_labelled(cfg)}
    after = {"after stage1": out["stage1"].fingerprint}
    if cfg.stage2.synthetic:
        after["after filter"] = out["filter"].fingerprint
    out["stage2"] = StageInputs({**stage2, **after})

    merge = _section("stage3", cfg.stage3.model_dump(mode="json"))
    if cfg.stage3.guard is not None:  # the guard steps back toward the base, scored in the eval's dtype
        merge.update(base)
        merge.update({"eval.dtype": cfg.eval.dtype, "file stage3.guard.sts_dev": file_identity(cfg.stage3.guard.sts_dev)})
    out["stage3"] = StageInputs({**merge, "after stage2": out["stage2"].fingerprint})
    # "w/o synthetic data": stage 2 and 3 from the base model, no synthetic pairs, no stage 1
    out["ablation"] = StageInputs({**base, **{k: v for k, v in stage2.items() if k != "stage2.synthetic"}, **merge})
    return out


def eval_inputs(cfg: RecipeConfig, model_fingerprint: str) -> StageInputs:
    """An evaluation's inputs: the ``eval`` section, its data files and the model's fingerprint."""
    keys = _section("eval", cfg.eval.model_dump(mode="json"))
    for i, task in enumerate(cfg.eval.retrieval):
        keys[f"file eval.retrieval[{i}].data_dir"] = file_identity(task.data_dir)
    for i, task in enumerate(cfg.eval.sts):
        keys[f"file eval.sts[{i}].path"] = file_identity(task.path)
    return StageInputs({**keys, "model": model_fingerprint})


def base_fingerprint(cfg: RecipeConfig) -> str:
    return StageInputs({"base_model": cfg.base_model, "file base_model": file_identity(cfg.base_model)}).fingerprint


def changed_keys(recorded: dict | None, current: StageInputs) -> list[str]:
    """The dotted keys whose value differs from the record, worded for a user (``filter.percentile 20 -> 50``)."""
    if recorded is None or "keys" not in recorded:
        return ["(recorded without its inputs)"]
    old, new = recorded["keys"], current.keys
    words = []
    for key in sorted(set(old) | set(new)):
        if key.startswith("after ") or old.get(key) == new.get(key):
            continue  # an upstream change is named at its own stage
        if key.startswith("file "):
            words.append(f"{key[5:]} (its contents)")
        elif key not in old:
            words.append(f"{key} (new) {new[key]!r}")
        elif key not in new:
            words.append(f"{key} (gone)")
        else:
            words.append(f"{key} {old[key]!r} -> {new[key]!r}")
    return words


def file_identity(path: str | None) -> str | None:
    """A file's content hash; a folder's listing of names, sizes and modification times (a model's
    weights can be many GB, so they are not read); None when the path does not exist (a hub name)."""
    if not path:
        return None
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif p.is_dir():
        for child in sorted(q for q in p.rglob("*") if q.is_file()):
            st = child.stat()
            h.update(f"{child.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        return None
    return h.hexdigest()[:16]


def _labelled(cfg: RecipeConfig) -> dict:
    return {"stage2.labelled": cfg.stage2.labelled, "stage2.labelled_split": cfg.stage2.labelled_split,
            "file stage2.labelled": file_identity(cfg.stage2.labelled)}


def _section(prefix: str, value, skip: set[str] = frozenset()) -> dict:
    """``value`` flattened to dotted keys under ``prefix``, without the run-only keys."""
    flat: dict = {}

    def walk(key: str, v) -> None:
        if isinstance(v, dict):
            for k, sub in v.items():
                walk(f"{key}.{k}", sub)
        elif isinstance(v, (list, tuple)) and any(isinstance(x, dict) for x in v):
            for i, sub in enumerate(v):
                walk(f"{key}[{i}]", sub)
        elif key not in RUN_ONLY and key[len(prefix) + 1:] not in skip:
            flat[key] = list(v) if isinstance(v, tuple) else v

    for k, v in value.items():
        walk(f"{prefix}.{k}", v)
    return flat
