"""Prometheus text-format metrics, kept in process: counters, histograms and gauges.

Written by hand (no prometheus_client dependency); the format is the plain text exposition
format 0.0.4 that every Prometheus scraper reads.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    body = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + body + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1
        self.total += 1
        self.sum += value


class ServerMetrics:
    """Requests, tokens, batch sizes, latency and queue depth, rendered as Prometheus text."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests: dict[tuple, int] = defaultdict(int)  # (endpoint, code) -> count
        self._tokens: dict[tuple, int] = defaultdict(int)  # (endpoint,) -> tokens
        self._latency: dict[tuple, _Histogram] = {}
        self._batch_rows: dict[tuple, _Histogram] = {}
        self._batch_tokens: dict[tuple, int] = defaultdict(int)
        self._gauges: dict[str, tuple[str, Callable[[], dict[tuple, float]]]] = {}

    def request_done(self, endpoint: str, code: int, seconds: float) -> None:
        with self._lock:
            self._requests[(("endpoint", endpoint), ("code", str(code)))] += 1
            key = (("endpoint", endpoint),)
            self._latency.setdefault(key, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def tokens(self, endpoint: str, n: int) -> None:
        with self._lock:
            self._tokens[(("endpoint", endpoint),)] += n

    def batch_done(self, model: str, rows: int, padded_tokens: int) -> None:
        """``padded_tokens``: the batch's cost under the model's rule (runtime.batching.batch_cost)."""
        with self._lock:
            key = (("model", model),)
            self._batch_rows.setdefault(key, _Histogram(BATCH_BUCKETS)).observe(rows)
            self._batch_tokens[key] += padded_tokens

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[tuple, float]]) -> None:
        """Register a gauge read at scrape time: ``read()`` -> {label pairs: value}."""
        self._gauges[name] = (help_text, read)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            _counter(lines, "q3embed_requests_total", "HTTP requests by endpoint and status code", self._requests)
            _counter(lines, "q3embed_input_tokens_total", "tokens fed to the models, by endpoint", self._tokens)
            _counter(lines, "q3embed_batch_tokens_total",
                     "tokens run through forward passes, by the model's budget rule (sum if packed, rows x longest if padded)",
                     self._batch_tokens)
            _histograms(lines, "q3embed_request_duration_seconds", "request latency", self._latency)
            _histograms(lines, "q3embed_batch_rows", "rows per forward pass", self._batch_rows)
        for name, (help_text, read) in self._gauges.items():
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} gauge")
            for labels, value in read().items():
                lines.append(f"{name}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"


def _counter(lines: list[str], name: str, help_text: str, values: dict) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} counter")
    for labels, value in sorted(values.items()):
        lines.append(f"{name}{_labels(labels)} {value}")


def _histograms(lines: list[str], name: str, help_text: str, hists: dict) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} histogram")
    for labels, h in sorted(hists.items()):
        for edge, count in zip(h.buckets, h.counts):
            lines.append(f"{name}_bucket{_labels(labels + (('le', f'{edge:g}'),))} {count}")
        lines.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {h.total}")
        lines.append(f"{name}_sum{_labels(labels)} {h.sum:.6f}")
        lines.append(f"{name}_count{_labels(labels)} {h.total}")
