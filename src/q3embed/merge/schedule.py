"""Which t each tensor gets: one value, a gradient over layers, and per-tensor-name filters.

A schedule is written as one or more rules, most specific first:

    "0.5"                      every tensor gets t = 0.5
    "0,0.5,1"                  a gradient: anchors spread evenly over the layers and
                               interpolated linearly by layer index (layer 0 -> 0, last -> 1)
    "self_attn=0,1"            tensors whose name matches the regex ``self_attn`` (re.search)
    "mlp=0.3"                  ... and ``mlp`` get their own value or gradient
    "ffn=0"                    a named group (``NAMED_SCOPES``: ffn, attention) instead of a regex

The first rule whose filter matches a tensor name wins; a rule without a filter matches
everything, so it belongs last (``--t self_attn=0,1 --t mlp=0.3 --t 0.5``). A tensor that
matches no rule is an error, named, rather than silently kept from one side.

Tensors outside the layer stack have no layer index: embeddings ("embed" in the name) take
the gradient's start, everything else (final norm, LM head, pooler) its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Matches the layer index in HF names: model.layers.3., encoder.layer.3., transformer.h.3., blocks.3.
_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)\.")

#: Named tensor groups, usable as a rule's name filter ("ffn=0.3"). "ffn": the
#: feed-forward blocks of BERT-style encoders (layer.N.intermediate.dense, layer.N.output.dense;
#: not attention.output.dense) and of Llama/Qwen-style decoders (layers.N.mlp.*).
NAMED_SCOPES = {
    "ffn": r"(?:^|\.)mlp\.|(?:^|\.)intermediate\.dense\.|(?:^|\.)layer\.\d+\.output\.dense\.",
    "attention": r"(?:^|\.)self_attn\.|(?:^|\.)attention\.",
}


def scope_pattern(scope: str) -> str:
    """The regex of a named scope ("ffn", "attention"), or ``scope`` itself, taken as a regex."""
    return NAMED_SCOPES.get(scope, scope)


def names_in_scope(scope: str, names: list[str]) -> list[str]:
    """The tensor names a scope (named group or regex) matches."""
    pattern = re.compile(scope_pattern(scope))
    return [n for n in names if pattern.search(n)]


def scoped_t(scope: str | None, t: float) -> float | list[str]:
    """A t spec giving ``t`` to the tensors of ``scope`` and 1.0 (the second input) to the rest.

    ``scope=None``: every tensor gets ``t``. Used to move part of a model toward the first input
    (e.g. only the feed-forward blocks back toward a base model)."""
    return t if scope is None else [f"{scope}={t:g}", "1"]


def layer_index(name: str) -> int | None:
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def layer_position(name: str, num_layers: int) -> float:
    """Where a tensor sits in the stack, 0.0 (first layer / embeddings) to 1.0 (last / head)."""
    i = layer_index(name)
    if i is None:
        return 0.0 if "embed" in name else 1.0
    return i / (num_layers - 1) if num_layers > 1 else 0.0


def parse_values(text: str, what: str = "t") -> list[float]:
    """"0.5" -> [0.5]; "0,0.5,1" -> [0, 0.5, 1]. Every value must lie in [0, 1]."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a number or a comma-separated list of numbers") from None
    for v in values:
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{what}={v:g} is outside [0, 1]; {what} must lie in [0, 1]")
    return values


@dataclass(frozen=True)
class Rule:
    pattern: str | None  # regex searched in the tensor name; None matches every tensor
    anchors: tuple[float, ...]  # one value, or a gradient over the layers

    def value(self, position: float) -> float:
        if len(self.anchors) == 1:
            return self.anchors[0]
        xs = np.linspace(0.0, 1.0, len(self.anchors))
        return float(np.interp(position, xs, self.anchors))


class Schedule:
    """An ordered list of rules; ``t_for(name)`` gives a tensor's interpolation factor."""

    def __init__(self, rules: list[Rule], num_layers: int):
        if not rules:
            raise ValueError("a schedule needs at least one rule, e.g. '0.5'")
        self.rules = rules
        self.num_layers = num_layers

    @classmethod
    def parse(cls, specs: str | float | list[str | float], num_layers: int) -> Schedule:
        """Build from "0.5", "0,0.5,1", "mlp=0.3" specs (module docstring), in order."""
        if not isinstance(specs, (list, tuple)):
            specs = [specs]
        rules = []
        for spec in specs:
            spec = str(spec).strip()
            pattern, sep, values = spec.rpartition("=")
            if sep and not pattern:
                raise ValueError(f"t rule {spec!r} has an empty name filter; write e.g. 'mlp=0.3'")
            pattern = scope_pattern(pattern) if pattern else pattern
            if pattern:
                try:
                    re.compile(pattern)
                except re.error as e:
                    raise ValueError(f"t rule {spec!r}: {pattern!r} is not a valid regex ({e})") from None
            rules.append(Rule(pattern or None, tuple(parse_values(values))))
        return cls(rules, num_layers)

    def t_for(self, name: str) -> float:
        for rule in self.rules:
            if rule.pattern is None or re.search(rule.pattern, name):
                return rule.value(layer_position(name, self.num_layers))
        raise ValueError(f"tensor {name!r} matches no t rule ({', '.join(r.pattern or '*' for r in self.rules)}); "
                         "add a default rule without a filter, e.g. --t 0.5")
