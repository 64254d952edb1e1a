"""The search page at ``/``: served without the key, holds no key, shows hits in a real browser."""

from __future__ import annotations

import shutil
import subprocess
import urllib.parse

import pytest

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><b>bold</b> capital'
DOCS = [
    {"id": "d1", "text": "Beijing is the capital of China."},
    {"id": "d2", "text": "Gravity pulls apples to the ground."},
    {"id": "d3", "text": HOSTILE},
    {"id": "d4", "text": "The Great Wall is in northern China."},
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, tiny_embedder, tiny_reranker):
    from q3embed import Index, Retriever

    index = Index.build(tmp_path_factory.mktemp("page_index") / "idx", DOCS, tiny_embedder)
    return Retriever(tiny_embedder, Index.open(index.root, tiny_embedder), reranker=tiny_reranker)


def _app(tiny_embedder, tiny_reranker, retriever, api_key=None):
    from q3embed.server import ServerSettings, create_app

    return create_app(tiny_embedder, tiny_reranker, retriever=retriever, settings=ServerSettings(api_key=api_key))


def test_page_is_served_without_the_key_and_never_holds_it(tiny_embedder, tiny_reranker, retriever, api_key):
    from fastapi.testclient import TestClient

    app = _app(tiny_embedder, tiny_reranker, retriever, api_key=api_key)
    try:
        client = TestClient(app)
        r = client.get("/?q=capital")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert api_key not in r.text and "innerHTML" not in r.text and "v1/retrieve" in r.text
        csp = r.headers["content-security-policy"]
        assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert client.post("/v1/retrieve", json={"query": "capital"}).status_code == 401  # the API still needs it
    finally:
        app.state.q3.close()


def test_retrieve_reports_stage_timings(tiny_embedder, tiny_reranker, retriever):
    from fastapi.testclient import TestClient

    app = _app(tiny_embedder, tiny_reranker, retriever)
    try:
        body = TestClient(app).post("/v1/retrieve", json={"query": "capital", "top_k": 2}).json()
        assert set(body["timings_ms"]) == {"embed", "search", "rerank"}
        assert all(ms >= 0 for ms in body["timings_ms"].values()) and len(body["results"]) == 2
    finally:
        app.state.q3.close()
    first_stage = _app(tiny_embedder, None, retriever.__class__(tiny_embedder, retriever.index))
    try:
        body = TestClient(first_stage).post("/v1/retrieve", json={"query": "capital"}).json()
        assert set(body["timings_ms"]) == {"embed", "search"}
    finally:
        first_stage.state.q3.close()


def chromium_dom(url: str, tmp_path, screenshot=None) -> str:
    """The DOM after the page's scripts ran, from headless Debian chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path}",
             "--virtual-time-budget=20000"]  # lets the fetch and rendering finish before the dump
    if screenshot is not None:
        flags += [f"--screenshot={screenshot}", "--window-size=1000,760", "--hide-scrollbars"]
    else:
        flags += ["--dump-dom"]
    done = subprocess.run(flags + [url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_page_in_a_real_browser_shows_hits_escaped(tiny_embedder, tiny_reranker, retriever, start_server, tmp_path):
    server = start_server(_app(tiny_embedder, tiny_reranker, retriever))
    query = "capital of China"
    dom = chromium_dom(f"{server.url}/?q={urllib.parse.quote(query)}", tmp_path / "profile")
    expected = retriever.search(query, top_k=10)
    assert dom.count('<li class="hit">') == len(expected) == len(DOCS)
    positions = [dom.index(f'<span class="hit-id">{h.id}</span>') for h in expected]
    assert positions == sorted(positions)  # in the retriever's order
    assert f"rerank score {expected[0].rerank_score:.4f}" in dom and f"first-stage score {expected[0].score:.4f}" in dom
    assert "<mark>capital</mark>" in dom and "<mark>China</mark>" in dom
    assert "<mark>of</mark>" not in dom and "<mark>capital</mark>s" not in dom  # whole content words only
    timings = dom[dom.index('<div id="timings">'):dom.index('<ol id="results">')]
    assert "stages: embed" in timings and " ms · search " in timings and " ms · rerank " in timings
    # the hostile document is shown as text: no <img> or <b> element, and its handler never ran
    results = dom[dom.index('<ol id="results">'):dom.index("<script>")]
    assert "&lt;img src=x" in results and "<img" not in results and "<b>" not in results
    assert "<title>q3embed search</title>" in dom


def test_page_in_a_real_browser_asks_for_the_key(tiny_embedder, tiny_reranker, retriever, start_server, api_key,
                                                 tmp_path):
    server = start_server(_app(tiny_embedder, tiny_reranker, retriever, api_key=api_key))
    dom = chromium_dom(f"{server.url}/?q=capital", tmp_path / "profile")
    assert '<div id="key-row">' in dom and "this server needs an API key" in dom  # the key row is shown
    assert dom.count('<li class="hit">') == 0 and api_key not in dom


def test_page_in_a_real_browser_searches_hybrid_and_labels_each_hit(tiny_embedder, tiny_reranker, retriever,
                                                                     start_server, tmp_path):
    server = start_server(_app(tiny_embedder, None, retriever.__class__(tiny_embedder, retriever.index)))
    query = "capital of China"
    dom = chromium_dom(f"{server.url}/?q={urllib.parse.quote(query)}&mode=hybrid", tmp_path / "profile")
    expected = retriever.index.search(query, top_k=10, mode="hybrid")
    assert dom.count('<li class="hit">') == len(expected)
    positions = [dom.index(f'<span class="hit-id">{h.id}</span>') for h in expected]
    assert positions == sorted(positions)  # the fused order
    labels = [" + ".join(h.stages) for h in expected]
    assert "dense + lexical" in labels and "dense" in labels  # "gravity ..." has no query word: dense only
    for h, label in zip(expected, labels):
        assert f'<span class="hit-id">{h.id}</span><span class="hit-stages">{label}</span>' in dom
    lexical = chromium_dom(f"{server.url}/?q={urllib.parse.quote(query)}&mode=lexical", tmp_path / "profile2")
    found = retriever.index.search(query, top_k=10, mode="lexical")
    assert lexical.count('<li class="hit">') == len(found) < len(DOCS)  # only documents sharing a word
    assert lexical.count('<span class="hit-stages">lexical</span>') == len(found)
