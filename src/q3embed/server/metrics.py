"""Server metrics through prometheus_client: requests, tokens, batch sizes, latency, queue depth.

Each ``ServerMetrics`` owns its registry (several apps in one process, as in the tests, do not
share counters). Metric names are part of the public surface: dashboards scrape them.
"""

from __future__ import annotations

from collections.abc import Callable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
# Only the samples dashboards read: no per-series *_created timestamps.
prometheus_client.disable_created_metrics()


class _ScrapeTimeGauges:
    """Gauges whose label sets change at run time, read when Prometheus scrapes."""

    def __init__(self):
        self.gauges: dict[str, tuple[str, Callable[[], dict[tuple, float]]]] = {}

    def collect(self):
        for name, (help_text, read) in self.gauges.items():
            values = read()
            labels = sorted({k for pairs in values for k, _ in pairs})
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for pairs, value in values.items():
                d = dict(pairs)
                family.add_metric([str(d.get(k, "")) for k in labels], value)
            yield family


class ServerMetrics:
    """Requests, tokens, batch sizes, latency and queue depth, rendered as Prometheus text."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter("q3embed_requests", "HTTP requests by endpoint and status code",
                                 ["endpoint", "code"], registry=r)
        self._tokens = Counter("q3embed_input_tokens", "tokens fed to the models, by endpoint", ["endpoint"], registry=r)
        self._batch_tokens = Counter("q3embed_batch_tokens", "tokens run through forward passes, by the model's "
                                     "budget rule (sum if packed, rows x longest if padded)", ["model"], registry=r)
        self._latency = Histogram("q3embed_request_duration_seconds", "request latency", ["endpoint"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self._batch_rows = Histogram("q3embed_batch_rows", "rows per forward pass", ["model"],
                                     buckets=BATCH_BUCKETS, registry=r)
        self._gauges = _ScrapeTimeGauges()
        r.register(self._gauges)

    def request_done(self, endpoint: str, code: int, seconds: float) -> None:
        self._requests.labels(endpoint, str(code)).inc()
        self._latency.labels(endpoint).observe(seconds)

    def tokens(self, endpoint: str, n: int) -> None:
        self._tokens.labels(endpoint).inc(n)

    def batch_done(self, model: str, rows: int, cost: int) -> None:
        """``cost``: the batch's tokens under the model's rule (runtime.batching.batch_cost)."""
        self._batch_rows.labels(model).observe(rows)
        self._batch_tokens.labels(model).inc(cost)

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[tuple, float]]) -> None:
        """Register a gauge read at scrape time: ``read()`` -> {label pairs: value}."""
        self._gauges.gauges[name] = (help_text, read)

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
