"""Training rows: reading JSONL, a resumable batch order, and the per-step choice of texts.

Accepted row formats (one JSON object per line):
- q3embed / FlagEmbedding: ``query``, ``pos`` (string or list), ``neg`` (list, optional),
  ``instruction`` (optional; FlagEmbedding's ``prompt`` is read as the instruction);
- ms-swift: ``query``, ``response`` (the positive), ``rejected_response`` (negatives).

The batch order is a function of (seed, epoch) only, and each row's positive/negatives of
(seed, epoch, row), so a resumed run needs just the step counter to see the same batches.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..inputs import iter_jsonl

QUERY_KEYS = ("query", "anchor", "question")
POS_KEYS = ("pos", "response", "positive", "positives")
NEG_KEYS = ("neg", "rejected_response", "negatives", "hard_negatives")
INSTRUCTION_KEYS = ("instruction", "prompt")


@dataclass(frozen=True)
class TrainExample:
    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    instruction: str | None = None


def _first(rec: dict, keys: tuple[str, ...]):
    for k in keys:
        if k in rec:
            return k, rec[k]
    return None, None


def _texts(value, path: Path, n: int, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputFileError(f"{path}:{n}: '{key}' must be a string or a list of strings")
    return tuple(value)


def parse_row(rec, path: Path, n: int) -> TrainExample:
    if not isinstance(rec, dict):
        raise InputFileError(f"{path}:{n}: expected a JSON object, got {type(rec).__name__}")
    qk, query = _first(rec, QUERY_KEYS)
    if not isinstance(query, str) or not query.strip():
        raise InputFileError(f"{path}:{n}: needs a non-empty string 'query' (or one of {', '.join(QUERY_KEYS[1:])})")
    pk, pos = _first(rec, POS_KEYS)
    if pk is None:
        raise InputFileError(f"{path}:{n}: needs a positive: one of {', '.join(POS_KEYS)}")
    positives = _texts(pos, path, n, pk)
    if not positives:
        raise InputFileError(f"{path}:{n}: '{pk}' is empty; every row needs at least one positive")
    nk, neg = _first(rec, NEG_KEYS)
    negatives = _texts(neg, path, n, nk) if nk is not None else ()
    ik, instruction = _first(rec, INSTRUCTION_KEYS)
    if instruction is not None and not isinstance(instruction, str):
        raise InputFileError(f"{path}:{n}: '{ik}' must be a string")
    return TrainExample(query, positives, negatives, instruction or None)


def read_train_file(path: str | Path) -> list[TrainExample]:
    """All rows of a training JSONL; a malformed line is reported with its line number."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"training file {path} does not exist")
    rows = [parse_row(rec, path, n) for n, rec in iter_jsonl(path)]
    if not rows:
        raise InputFileError(f"{path}: no training rows")
    return rows


class BatchOrder:
    """Which rows make step ``s``: a fresh permutation per epoch, last partial batch dropped.

    Dropping the remainder keeps every step's batch the same size, which the contrastive loss
    (and an even split across processes) needs.
    """

    def __init__(self, num_rows: int, batch_size: int, seed: int, shuffle: bool = True):
        if batch_size > num_rows:
            raise ValueError(f"batch_size {batch_size} is larger than the {num_rows} training rows")
        self.num_rows, self.batch_size, self.seed, self.shuffle = num_rows, batch_size, seed, shuffle
        self.steps_per_epoch = num_rows // batch_size

    def permutation(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.num_rows)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)

    def rows(self, step: int) -> tuple[int, list[int]]:
        """(epoch, row indices) of global step ``step`` (0-based)."""
        epoch, i = divmod(step, self.steps_per_epoch)
        perm = self.permutation(epoch)
        return epoch, perm[i * self.batch_size: (i + 1) * self.batch_size].tolist()


def pick_texts(ex: TrainExample, num_negatives: int, seed: int, epoch: int, row: int) -> tuple[str, list[str]]:
    """One positive and ``num_negatives`` negatives for this row at this epoch.

    Rows with several positives cycle through them across epochs. Negatives are sampled
    without replacement, and repeated only when a row has fewer than asked for.
    """
    rng = random.Random(f"{seed}:{epoch}:{row}")
    pos = ex.positives[rng.randrange(len(ex.positives))]
    if num_negatives == 0:
        return pos, []
    pool = list(ex.negatives)
    if len(pool) >= num_negatives:
        return pos, rng.sample(pool, num_negatives)
    return pos, [pool[i % len(pool)] for i in range(num_negatives)]


def text_key(text: str) -> int:
    """Stable 63-bit id of a text, to spot identical documents across rows and processes."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") >> 1


def check_negatives(rows: list[TrainExample], num_negatives: int, path: str) -> None:
    if num_negatives == 0:
        return
    missing = [i for i, r in enumerate(rows) if not r.negatives]
    if missing:
        raise InputFileError(
            f"{path}: {len(missing)} rows have no negatives (first: row {missing[0] + 1}) but data.num_negatives is "
            f"{num_negatives}; mine some with `q3embed mine`, or set data.num_negatives=0"
        )
