"""The hybrid-fusion flags shared by `search` and `eval --task retrieval`."""

from __future__ import annotations


def add_fusion_args(p) -> None:
    from ..stores.fusion import FUSION_METHODS, FusionConfig

    d = FusionConfig()
    p.add_argument("--fusion", default=d.method, choices=FUSION_METHODS,
                   help="--mode hybrid: reciprocal rank fusion (default) or weighted normalised scores")
    p.add_argument("--rrf-k", type=int, default=d.k, help=f"RRF constant k (default {d.k})")
    p.add_argument("--dense-weight", type=float, default=d.dense_weight,
                   help=f"--fusion weighted: the dense share, lexical gets the rest (default {d.dense_weight})")
    p.add_argument("--depth", type=int, default=d.depth,
                   help=f"--mode hybrid: candidates each first stage gives the fusion (default {d.depth})")


def fusion_config(args):
    """A ``FusionConfig`` from the flags; a bad value is one ValueError naming the accepted range."""
    from ..stores.fusion import FusionConfig

    return FusionConfig(method=args.fusion, k=args.rrf_k, dense_weight=args.dense_weight, depth=args.depth)
