"""Training rows: a resumable batch order and the per-step choice of texts.

Rows are the data layer's ``TrainPair`` (q3embed.data.pairs: the accepted JSONL formats).

The batch order is a function of (seed, epoch) only, and each row's positive/negatives of
(seed, epoch, row), so a resumed run needs just the step counter to see the same batches.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from ..data.pairs import TrainPair, read_pairs

TrainExample = TrainPair  # the trainer's name for the data layer's one pair schema


def read_train_file(path: str | Path) -> list[TrainPair]:
    """All rows of a training JSONL; a malformed line is reported with its line number."""
    return read_pairs(path, "training file")


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


def pick_texts(ex: TrainPair, num_negatives: int, seed: int, epoch: int, row: int) -> tuple[str, list[str]]:
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


def check_negatives(rows: list[TrainPair], num_negatives: int, path: str) -> None:
    if num_negatives == 0:
        return
    missing = [i for i, r in enumerate(rows) if not r.negatives]
    if missing:
        raise InputFileError(
            f"{path}: {len(missing)} rows have no negatives (first: row {missing[0] + 1}) but data.num_negatives is "
            f"{num_negatives}; mine some with `q3embed mine`, or set data.num_negatives=0"
        )
