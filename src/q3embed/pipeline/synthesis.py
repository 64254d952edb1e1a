"""The data stages: synthesise pairs (an LLM, or weak pairs cut from the corpus, or given ones),
then cosine-filter them with the base model."""

from __future__ import annotations

import logging
from pathlib import Path

from .config import RecipeError
from .state import Run
from .training import labelled_pairs

log = logging.getLogger(__name__)


def synth(run: Run) -> dict:
    """{"pairs": the synthetic pairs in key order, "raw": the append-only store, "counts": the report's}."""
    cfg = run.cfg
    if cfg.synthetic_pairs:
        return {"pairs": cfg.synthetic_pairs, "source": "given"}
    from ..synth.client import RetryPolicy
    from ..synth.runner import format_report, synthesize, synthesize_weak

    s = cfg.synth
    out = run.out / s.out
    if s.weak is not None:
        report = synthesize_weak(s.corpus, out, s.weak_config())
        log.info(format_report(report))
        return _in_key_order(run, out, report)
    report = synthesize(s.corpus, out, s.llm_base_url, s.llm_model, s.synth_config(), api_key=s.llm_api_key,
                        personas=s.personas, prompts_dir=s.prompts, concurrency=s.concurrency,
                        rate_limit=s.rate_limit, retry=RetryPolicy(max_retries=s.max_retries, backoff_base=s.backoff),
                        temperature=s.temperature, show_progress=run.show_progress)
    log.info(format_report(report))
    failed = report.counts["gave_up"]
    if failed > s.allow_failed_fraction * report.planned:
        raise RecipeError(f"synth: {failed} of {report.planned} jobs failed after retries (allowed: "
                          f"synth.allow_failed_fraction={s.allow_failed_fraction}); rerun to retry only those")
    return _in_key_order(run, out, report)


def _in_key_order(run: Run, out: Path, report) -> dict:
    # Concurrent jobs append in completion order; sorting by key makes the training data,
    # and so the seeded training runs, the same on every run.
    from ..synth.filter import read_pairs, write_pairs

    ordered = run.out / "data" / "synthetic.jsonl"
    write_pairs(sorted(read_pairs(out), key=lambda r: r["key"]), ordered)
    return {"pairs": str(ordered), "raw": str(out), "counts": report.counts.as_dict()}


def cosine_filter(run: Run) -> dict:
    """Keep the synthetic pairs whose cosine (base model, or ``filter.model``) is above the cut:
    ``filter.threshold``, the ``percentile`` of their own scores, or the cut that keeps ``fit_keep``
    of the labelled pairs."""
    from ..engine import Embedder
    from ..synth.filter import (
        fitted_threshold,
        histogram_png,
        pair_scores,
        percentile_threshold,
        read_pairs,
        select_pairs,
        text_histogram,
        write_pairs,
    )

    cfg, f = run.cfg, run.cfg.filter
    records = read_pairs(run.outputs("synth")["pairs"])
    emb = Embedder.load(f.model or cfg.base_model, device=cfg.device)
    scores = pair_scores(emb, records, f.batch_size, show_progress=run.show_progress)
    if f.fit_keep is not None:  # the labelled pairs are the known-good ones
        good = pair_scores(emb, labelled_pairs(cfg.stage2.labelled, cfg.stage2.labelled_split), f.batch_size)
        threshold = max(-1.0, min(1.0, fitted_threshold(good, f.fit_keep)))
    elif f.percentile is not None:
        threshold = percentile_threshold(scores, f.percentile)
    else:
        threshold = f.threshold
    result = select_pairs(records, scores, threshold, getattr(emb, "name", ""))
    out = run.out / "filter" / "kept.jsonl"
    write_pairs(result.kept, out)
    histogram_png(result.scores, threshold, run.out / "filter" / "cosine_hist.png")
    log.info(f"filter: kept {result.n_kept} / dropped {result.n_dropped} of {result.n_records} records "
             f"at cosine > {threshold:.4f}\n{text_histogram(result.scores, threshold)}")
    return {"kept": str(out), "n_kept": result.n_kept, "n_dropped": result.n_dropped, "threshold": threshold}
