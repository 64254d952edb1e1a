"""Weak pairs from the corpus itself: stage 1 when no LLM is reachable.

The paper's stage 1 trains on LLM-written queries. This is the weak-supervision variant that
older embedding work uses instead (Contriever, E5's "CCPairs"): a structural part of a
passage stands in for the query and the rest of the passage is its positive.

- ``title``: the passage's title -> its body (BEIR ``title`` field; passages without one are
  skipped).
- ``first_sentence``: the body's first sentence -> the rest of the body (passages with fewer
  than two sentences are skipped).

The query is never a substring repeated in its positive: the positive is the *rest* of the
passage. Records have the training format and the LLM path's keys (``<passage id>|weak-<form>|0``)
so they go into the same ``PairStore`` (resume, dedup) and through the same cosine filter.
"""

from __future__ import annotations

import re
import time
import typing
from collections.abc import Iterator
from typing import Literal

from ..data.corpus import Document
from ..schema import ConfigDict, Field, TypedConfig
from .counts import FailureCounts
from .generate import SynthReport
from .store import PairStore

Form = Literal["title", "first_sentence"]
FORMS: tuple[str, ...] = typing.get_args(Form)
INSTRUCTIONS = {
    "title": "Given a title, retrieve the passage it heads",
    "first_sentence": "Given a sentence, retrieve the passage that continues it",
}
# A sentence ends at . ! or ? followed by space and an upper-case letter, digit or quote; an
# abbreviation such as "e.g. the" (lower case next) does not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
MIN_QUERY_CHARS = 8     # a shorter title/sentence ("Results.") says nothing about the passage
MIN_POSITIVE_CHARS = 40


class WeakConfig(TypedConfig):
    """Which weak pairs to write. The pipeline recipe's ``synth.weak`` (forms) and ``synth.n`` feed it."""

    model_config = ConfigDict(frozen=True)
    forms: tuple[Form, ...] = Field(FORMS, min_length=1)
    n: int | None = Field(None, ge=1)  # at most this many records planned, in corpus order


def split_first_sentence(text: str) -> tuple[str, str] | None:
    """(first sentence, rest) or None when ``text`` has fewer than two sentences."""
    parts = _SENTENCE_END.split(text.strip(), maxsplit=1)
    if len(parts) != 2:
        return None
    return parts[0].strip(), parts[1].strip()


def title_of(p: Document) -> str:
    """The BEIR title (the corpus reader keeps it in ``meta``, and folds it into ``text``)."""
    title = (p.meta or {}).get("title")
    return title.strip() if isinstance(title, str) else ""


def body_of(p: Document) -> str:
    """The passage without its title."""
    title = title_of(p)
    if title and p.text.startswith(title):
        return p.text[len(title):].strip()
    return p.text


def weak_pair(p: Document, form: str) -> tuple[str, str] | None:
    """(query, positive) of one form for one passage, or None when the passage has no such pair."""
    body, title = body_of(p), title_of(p)
    if form == "title":
        pair = (title, body) if title else None
    elif form == "first_sentence":
        pair = split_first_sentence(body)
    else:
        raise ValueError(f"unknown weak pair form {form!r}; accepted: {', '.join(FORMS)}")
    if pair is None or len(pair[0]) < MIN_QUERY_CHARS or len(pair[1]) < MIN_POSITIVE_CHARS:
        return None
    return pair


def weak_records(passages: list[Document], config: WeakConfig, counts: FailureCounts | None = None) -> Iterator[dict]:
    """Training-format records, one per (passage, form) that has a pair; at most ``config.n``."""
    made = 0
    for p in passages:
        for form in config.forms:
            pair = weak_pair(p, form)
            if pair is None:
                if counts is not None:
                    counts.add("no_pair")
                continue
            yield {"key": f"{p.id}|weak-{form}|0", "query": pair[0], "pos": [pair[1]],
                   "instruction": INSTRUCTIONS[form],
                   "provenance": {"source": "q3embed synth --weak", "passage_id": p.id, "task": "weak", "form": form}}
            made += 1
            if config.n and made >= config.n:
                return


def run_weak(passages: list[Document], store: PairStore, config: WeakConfig) -> SynthReport:
    """Write every weak record not already in ``store``; the counts mirror the LLM path's report."""
    start = time.perf_counter()
    counts = FailureCounts()
    planned = 0
    for rec in weak_records(passages, config, counts):
        planned += 1
        if store.is_done(rec["key"]):
            counts.add("resumed")
        elif store.add(rec):
            counts.add("written")
        else:
            counts.add("duplicate")
    return SynthReport(planned=planned, counts=counts, seconds=time.perf_counter() - start)
