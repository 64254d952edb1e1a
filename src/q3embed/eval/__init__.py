"""Evaluation: retrieval, STS, bitext and rerank evaluators on local data, MRL sweeps,
an MTEB adapter and summary reports.

All evaluators take an ``Embedder`` (or a checkpoint path) and return a dict whose
``main_score`` is a fraction (nDCG@10 for retrieval, cosine Spearman for STS, F1 for bitext).
"""

from __future__ import annotations

import importlib

_LAZY = {
    "evaluate_retrieval": "retrieval",
    "score_run": "retrieval",
    "evaluate_sts": "sts",
    "load_sts_pairs": "sts",
    "load_beir": "beir",
    "retrieval_metrics": "metrics",
    "evaluate_bitext": "bitext",
    "evaluate_rerank": "rerank",
    "mrl_sweep": "mrl",
    "mteb_model": "mteb_adapter",
    "markdown_report": "report",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'q3embed.eval' has no attribute {name!r}")
