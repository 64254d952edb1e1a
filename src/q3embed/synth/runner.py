"""``synthesize(...)``: the whole synth run from typed arguments; the CLI and recipe call this.

Everything that can be wrong with the inputs (corpus, personas, prompts, endpoint, model
name) is checked before the first job starts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from ..data.corpus import read_corpus
from .client import ChatClient, RetryPolicy
from .generate import SynthConfig, SynthReport, run_synthesis
from .personas import load_personas
from .prompts import load_prompts
from .store import PairStore

log = logging.getLogger(__name__)


def synthesize(corpus: str | Path, out: str | Path, base_url: str, model: str, config: SynthConfig, *,
               api_key: str | None = None, personas: str | Path | None = None, prompts_dir: str | Path | None = None,
               concurrency: int = 8, rate_limit: float | None = None, retry: RetryPolicy = RetryPolicy(),
               timeout: float = 120.0, temperature: float = 0.7, max_passage_chars: int = 4000,
               show_progress: bool = False) -> SynthReport:
    passages = read_corpus(corpus)
    if max_passage_chars:  # long passages waste LLM context; the paper works on passage-sized text
        passages = [replace(p, text=p.text[:max_passage_chars]) for p in passages]  # meta (the title) kept
    persona_list = load_personas(personas)
    prompt_set = load_prompts(list(config.specs), prompts_dir)
    with ChatClient(base_url, model, api_key, timeout=timeout, temperature=temperature, rate_limit=rate_limit,
                    retry=retry, concurrency=concurrency) as client:
        client.check()
        with PairStore(out) as store:
            if store.n_records or store.repaired_bytes:
                log.info(f"resuming {out}: {store.n_records} records already written"
                         + (f", cut a torn last line ({store.repaired_bytes} bytes)" if store.repaired_bytes else ""))
            report = run_synthesis(passages, persona_list, client, prompt_set, store, config,
                                   concurrency=concurrency, show_progress=show_progress)
    _write_report(out, report, model, base_url)
    return report


def synthesize_weak(corpus: str | Path, out: str | Path, config, *, max_passage_chars: int = 4000) -> SynthReport:
    """Weak pairs (``synth.weak``) from ``corpus`` into the same append-only store; no LLM."""
    from .weak import run_weak

    passages = read_corpus(corpus)
    if max_passage_chars:
        passages = [replace(p, text=p.text[:max_passage_chars]) for p in passages]  # meta (the title) kept
    with PairStore(out) as store:
        if store.n_records or store.repaired_bytes:
            log.info(f"resuming {out}: {store.n_records} records already written"
                     + (f", cut a torn last line ({store.repaired_bytes} bytes)" if store.repaired_bytes else ""))
        report = run_weak(passages, store, config)
    _write_report(out, report, None, None, forms=list(config.forms))
    return report


def _write_report(out: str | Path, report: SynthReport, model: str | None, base_url: str | None, **extra) -> None:
    path = Path(str(out) + ".report.json")
    path.write_text(json.dumps({"planned": report.planned, "seconds": round(report.seconds, 3), "llm_model": model,
                                "llm_base_url": base_url, **extra, "counts": report.counts.as_dict(),
                                "failures": report.failures[:100]}, indent=2) + "\n")


def format_report(report: SynthReport) -> str:
    lines = [f"synth: {report.planned} jobs planned, {report.seconds:.1f} s"] + report.counts.lines()
    for f in report.failures[:10]:
        lines.append(f"  failed {f}")
    if len(report.failures) > 10:
        lines.append(f"  ... and {len(report.failures) - 10} more (see the .report.json)")
    return "\n".join(lines)
