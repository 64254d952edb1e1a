"""Refuse inputs that cannot be merged, before a single byte of output is written.

Checked: the same architecture (model_type, architectures and every shape-defining config
key), the same tensor names, the same shape per tensor, and float tensors wherever the
inputs differ. Each error names the input, the tensor or key, and both values.
"""

from __future__ import annotations

from ..errors import CheckpointError

# Config keys that change tensor shapes or their meaning; any difference makes a merge meaningless.
ARCH_KEYS = (
    "model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings",
    "tie_word_embeddings", "type_vocab_size", "hidden_act",
)
# What transformers' PretrainedConfig assumes when a key is absent: a fine-tune saved by a newer
# transformers writes the default out (all-MiniLM-L6-v2's config has no tie_word_embeddings; its
# fine-tunes say true), which is the same architecture.
ABSENT_MEANS = {"tie_word_embeddings": True}


def check_same_architecture(sources) -> None:
    first = sources[0]
    for other in sources[1:]:
        for key in ARCH_KEYS:
            a, b = (src.config.get(key, ABSENT_MEANS.get(key)) for src in (first, other))
            if a != b:
                raise CheckpointError(f"architectures differ: config '{key}' is {a!r} in {first.label} "
                                      f"but {b!r} in {other.label}; only checkpoints of one architecture can be merged")


# Buffers that are not weights: older checkpoints saved them, newer transformers do not (BERT's
# position_ids became a non-persistent buffer), and the model rebuilds them either way.
REBUILT_BUFFERS = ("position_ids",)


def droppable_buffers(sources) -> set[str]:
    """Names of rebuilt buffers that some inputs have and others lack: left out of the merge."""
    union = set().union(*(set(s.names) for s in sources))
    every = set.intersection(*(set(s.names) for s in sources))
    return {n for n in union - every if n.rsplit(".", 1)[-1] in REBUILT_BUFFERS}


def check_same_tensors(sources, ignore: set[str] = frozenset()) -> None:
    first = sources[0]
    names = set(first.names) - ignore
    for other in sources[1:]:
        theirs = set(other.names) - ignore
        if missing := sorted(names - theirs):
            raise CheckpointError(f"tensor '{missing[0]}' is in {first.label} but missing from {other.label}"
                                  + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        if extra := sorted(theirs - names):
            raise CheckpointError(f"tensor '{extra[0]}' is in {other.label} but missing from {first.label}"
                                  + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
        for name in sorted(names):
            if first.shape(name) != other.shape(name):
                raise CheckpointError(f"tensor '{name}' has shape {list(first.shape(name))} in {first.label} "
                                      f"but {list(other.shape(name))} in {other.label}")
            if first.dtype(name).is_floating_point != other.dtype(name).is_floating_point:
                raise CheckpointError(f"tensor '{name}' is {first.dtype(name)} in {first.label} "
                                      f"but {other.dtype(name)} in {other.label}")
