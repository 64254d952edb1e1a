"""Pure pieces: settings validation, Prometheus text, bearer parsing."""

from __future__ import annotations

import re

import pytest

from q3embed.server.auth import bearer_token
from q3embed.server.metrics import ServerMetrics
from q3embed.server.settings import ServerSettings

LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_items=10, max_queue=5), "max_items (10) must not exceed max_queue (5)"),
    (dict(max_batch_tokens=0), "max_batch_tokens must be >= 1, got 0"),
    (dict(max_queue=True), "max_queue must be int, got bool True"),
    (dict(max_queue="8"), "max_queue must be int, got str '8'"),
    (dict(api_key=""), "api_key must be a non-empty string"),
    (dict(max_input_tokens=1), "max_input_tokens must be >= 2, got 1"),
    (dict(max_wait_ms=-1), "max_wait_ms must be >= 0, got -1"),
    (dict(body_timeout_s=0), "body_timeout_s must be > 0, got 0"),
    (dict(max_batch=8), "unknown server setting 'max_batch'; accepted here: api_key, batching,"),
])
def test_settings_reject_nonsense(kwargs, message):
    from q3embed.errors import ConfigError

    with pytest.raises(ConfigError) as e:  # a ValueError
        ServerSettings(**kwargs)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_settings_are_frozen():
    s = ServerSettings()
    with pytest.raises(Exception):
        s.max_queue = 1
    assert s.max_queue == 4096


def test_prometheus_text_is_well_formed_and_histograms_are_cumulative():
    m = ServerMetrics()
    for seconds in (0.004, 0.02, 0.3, 50.0):
        m.request_done("/v1/embeddings", 200, seconds)
    m.request_done("other", 404, 0.001)
    m.tokens("/v1/embeddings", 123)
    m.batch_done('model "x"\n', rows=3, cost=30)  # label values are escaped
    m.gauge("q3embed_queue_rows", "rows waiting", lambda: {(("model", "m"),): 7})
    text = m.render()
    samples = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert all(LINE.match(ln) for ln in samples), [ln for ln in samples if not LINE.match(ln)]
    buckets = [int(float(ln.rsplit(" ", 1)[1])) for ln in samples
               if ln.startswith('q3embed_request_duration_seconds_bucket{endpoint="/v1/embeddings"')]
    assert buckets == sorted(buckets) and buckets[-1] == 4 and buckets[0] == 1
    assert 'q3embed_requests_total{code="404",endpoint="other"} 1' in text
    assert 'q3embed_input_tokens_total{endpoint="/v1/embeddings"} 123' in text
    assert 'q3embed_queue_rows{model="m"} 7' in text
    assert 'model="model \\"x\\"\\n"' in text


@pytest.mark.parametrize("header,token", [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None),
                                          ("Bearer", None), ("", None), (None, None), ("abc", None)])
def test_bearer_token(header, token):
    assert bearer_token(header) == token
