"""The hybrid-fusion flags shared by `search` and `eval --task retrieval`."""

from __future__ import annotations

# flag -> (FusionConfig field, what it accepts); the flags default to None so that a flag given with a
# mode that does not fuse can be refused instead of silently ignored
_FLAGS = {"--fusion": ("method", None), "--rrf-k": ("k", ">= 1"),
          "--dense-weight": ("dense_weight", "in [0, 1]"), "--depth": ("depth", ">= 1")}


def add_fusion_args(p) -> None:
    from ..stores.fusion import FUSION_METHODS, FusionConfig

    d = FusionConfig()
    p.add_argument("--fusion", default=None, choices=FUSION_METHODS,
                   help=f"--mode hybrid: reciprocal rank fusion (default {d.method}) or weighted normalised scores")
    p.add_argument("--rrf-k", type=int, default=None, help=f"--mode hybrid: RRF constant k (default {d.k})")
    p.add_argument("--dense-weight", type=float, default=None,
                   help=f"--fusion weighted: the dense share, lexical gets the rest (default {d.dense_weight})")
    p.add_argument("--depth", type=int, default=None,
                   help=f"--mode hybrid: candidates each first stage gives the fusion (default {d.depth})")


def fusion_config(args):
    """A ``FusionConfig`` from the flags. A bad value, or a fusion flag with a mode that does not fuse,
    is one ValueError naming the flag and what it accepts."""
    from ..stores.fusion import FusionConfig

    given = {flag: getattr(args, flag[2:].replace("-", "_")) for flag in _FLAGS}
    given = {flag: value for flag, value in given.items() if value is not None}
    if given and args.mode != "hybrid":
        raise ValueError(f"{', '.join(given)} only apply to --mode hybrid (got --mode {args.mode})")
    if given.get("--dense-weight") is not None and given.get("--fusion") != "weighted":
        raise ValueError("--dense-weight only applies to --fusion weighted")
    for flag, value in given.items():
        field, accepted = _FLAGS[flag]
        try:
            FusionConfig(**{field: value})
        except ValueError:
            raise ValueError(f"{flag} must be {accepted}, got {value}") from None
    return FusionConfig(**{_FLAGS[flag][0]: value for flag, value in given.items()})
