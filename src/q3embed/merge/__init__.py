"""Checkpoint merging: slerp, multislerp, linear, LoRA; streamed tensor by tensor.

Pure tensor math lives in ``slerp``, ``multislerp``, ``linear`` (and ``combine``); whole
checkpoints are merged by ``merge_checkpoints`` (``checkpoints``), which streams through
``stream``; ``search`` evaluates a grid of merges.
"""

from .checkpoints import METHODS, MergeResult, merge_checkpoints
from .linear import linear
from .multislerp import multislerp
from .schedule import Schedule
from .slerp import lerp, slerp

__all__ = ["METHODS", "MergeResult", "Schedule", "lerp", "linear", "merge_checkpoints", "multislerp", "slerp"]
