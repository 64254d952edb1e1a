"""Thread-safe failure and outcome counters for a synthesis run; every failure kind is named."""

from __future__ import annotations

import threading
from collections import Counter

# What each counter means, in the order the report prints them.
KINDS = {
    "requests": "chat requests sent",
    "http_429": "HTTP 429 (rate limited), retried",
    "http_5xx": "HTTP 5xx from the server, retried",
    "http_4xx": "other HTTP 4xx, not retried",
    "connect_error": "connection failures, retried",
    "timeout": "request timeouts, retried",
    "bad_json": "answers that were not a JSON object, re-asked",
    "bad_schema": "JSON answers with missing or invalid fields, re-asked",
    "written": "records written",
    "duplicate": "records dropped as duplicates (normalised query text)",
    "no_pair": "(passage, weak form) with no such pair (no title, one sentence, too short)",
    "resumed": "jobs skipped because an earlier run finished them",
    "gave_up": "jobs that failed after all retries (rerun to retry them)",
}


class FailureCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: Counter[str] = Counter()

    def add(self, kind: str, n: int = 1) -> None:
        if kind not in KINDS:
            raise KeyError(f"unknown counter {kind!r}; known: {', '.join(KINDS)}")
        with self._lock:
            self._c[kind] += n

    def __getitem__(self, kind: str) -> int:
        with self._lock:
            return self._c[kind]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {k: self._c[k] for k in KINDS}

    def lines(self) -> list[str]:
        return [f"{n:>8}  {KINDS[k]}" for k, n in self.as_dict().items() if n or k in ("written", "gave_up")]
