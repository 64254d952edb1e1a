"""The search page over a Qwen3-VL index: thumbnails of image and PDF-page hits from /v1/thumbnail
(by document id only, downscaled, 404 for anything the index does not hold), file and page labels
as text, search by an uploaded image, and a titled document's title shown once.

The browser test drives one headless Chromium over the DevTools protocol: it waits for the
thumbnails to load, then sets the page's file input (DOM.setFileInputFiles, what a user's pick does)
and waits for the image search's hits."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

Image = pytest.importorskip("PIL.Image")

HOSTILE_NAME = "<img src=x onerror=alert(1)>.png"
TITLE = "Mitochondria"
TITLED_TEXT = f"{TITLE} Mitochondria are the powerhouse of the cell."


def _png(path, color, size=(300, 200)):
    Image.new("RGB", size, color).save(path, "PNG")


@pytest.fixture(scope="module")
def media_index(tmp_path_factory, tiny_vl_embedder):
    """A VL index over one 2-page PDF, two PNGs (one with a hostile file name) and one titled text document."""
    from q3embed.data.corpus import Document
    from q3embed.data.pages import read_media_corpus
    from q3embed.stores.open import build_store

    folder = tmp_path_factory.mktemp("media")
    pages = [Image.new("RGB", (400, 560), (40 + 120 * i, 90, 160)) for i in range(2)]
    pages[0].save(folder / "report.pdf", "PDF", save_all=True, append_images=pages[1:], resolution=72)
    _png(folder / "red.png", (210, 40, 40))
    try:
        _png(folder / HOSTILE_NAME, (40, 160, 60))
    except OSError:  # pragma: no cover - a filesystem that refuses '<' or '>'
        pytest.skip("this filesystem refuses '<' and '>' in file names")
    docs = read_media_corpus(folder) + [Document("bio", TITLED_TEXT, {"title": TITLE})]
    store = build_store(tmp_path_factory.mktemp("media_idx") / "idx", docs, tiny_vl_embedder)
    yield store, folder
    store.close()


def _app(embedder, store, api_key=None):
    from q3embed.server import ServerSettings, create_app
    from q3embed.stores import Retriever

    return create_app(embedder, None, Retriever(embedder, store), settings=ServerSettings(api_key=api_key))


def test_thumbnail_route_serves_only_the_index_documents(tiny_vl_embedder, media_index, api_key):
    from fastapi.testclient import TestClient

    store, folder = media_index
    app = _app(tiny_vl_embedder, store)
    try:
        client = TestClient(app)
        for doc_id, size in [("red.png", (256, 171)), ("report.pdf#page=2", (183, 256)), (HOSTILE_NAME, (256, 171))]:
            r = client.get("/v1/thumbnail", params={"id": doc_id})
            assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
            with Image.open(io.BytesIO(r.content)) as thumb:
                assert thumb.format == "PNG" and thumb.size == size  # downscaled to 256 px on the longer side
        page2 = Image.open(io.BytesIO(client.get("/v1/thumbnail", params={"id": "report.pdf#page=2"}).content))
        assert page2.convert("RGB").getpixel((90, 128))[0] > 120  # page 2's colour, not page 1's
        (folder / "secret.png").write_bytes(b"")  # a file beside the indexed ones, but not indexed
        for bad in ["nope.png", "secret.png", "../../../../etc/passwd", str(folder / "red.png"), "report.pdf#page=9",
                    "report.pdf"]:
            r = client.get("/v1/thumbnail", params={"id": bad})
            assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found", (bad, r.text)
        r = client.get("/v1/thumbnail", params={"id": "bio"})
        assert r.status_code == 404 and "text document" in r.json()["error"]["message"]
        assert client.get("/v1/thumbnail").status_code in (400, 422)  # no id
    finally:
        app.state.q3.close()
    locked = _app(tiny_vl_embedder, store, api_key=api_key)
    try:
        client = TestClient(locked)
        assert client.get("/v1/thumbnail", params={"id": "red.png"}).status_code == 401
        r = client.get("/v1/thumbnail", params={"id": "red.png"}, headers={"Authorization": f"Bearer {api_key}"})
        assert r.status_code == 200
    finally:
        locked.state.q3.close()


class _NoLookupStore:
    """A store without a by-id lookup (as Qdrant and pgvector are here)."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        if name == "chunks":
            raise AttributeError(name)
        return getattr(self._store, name)


def test_stores_without_a_lookup_get_thumbnails_of_returned_hits_only(tiny_vl_embedder, media_index):
    from fastapi.testclient import TestClient

    store, _ = media_index
    app = _app(tiny_vl_embedder, _NoLookupStore(store))
    try:
        client = TestClient(app)
        assert client.get("/v1/thumbnail", params={"id": "red.png"}).status_code == 404  # not returned yet
        hits = client.post("/v1/retrieve", json={"query": "a red square", "top_k": 10}).json()["results"]
        assert {h["id"] for h in hits} >= {"red.png", "report.pdf#page=1"}
        for doc_id in ("red.png", "report.pdf#page=1"):
            assert client.get("/v1/thumbnail", params={"id": doc_id}).status_code == 200
        assert client.get("/v1/thumbnail", params={"id": "bio"}).status_code == 404  # a text hit: nothing kept
    finally:
        app.state.q3.close()


def test_the_docs_screenshot_is_the_documented_one():
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    text = (docs / "multimodal.md").read_text(encoding="utf-8")
    assert "(multimodal-search-page.png)" in text and "--window-size=1000,1000" in text
    assert "--screenshot=docs/multimodal-search-page.png" in text and "random" in text
    with Image.open(docs / "multimodal-search-page.png") as image:
        assert image.size == (1000, 1000)


class DevTools:
    """One page of a headless Chromium, driven over the DevTools protocol (JSON over a websocket)."""

    def __init__(self, url: str, profile):
        sync_client = pytest.importorskip("websockets.sync.client")
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            pytest.skip("chromium is not installed (apt-get install -y chromium)")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1000,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline and self.proc.poll() is None, "chromium did not open DevTools"
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.ws = sync_client.connect(page["webSocketDebuggerUrl"], max_size=None)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        while json.loads(self.ws.recv(timeout=60)).get("method") != "Page.loadEventFired":
            pass  # scripts run in the loaded page's context from here on

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg["result"]

    def wait_for(self, condition_js: str, timeout_ms: int = 30000):
        """The value of ``condition_js`` once it is truthy (polled in the page), or fail after the timeout."""
        script = (f"new Promise((done) => {{ const t0 = Date.now(); (function poll() {{ const v = ({condition_js}); "
                  f"if (v || Date.now() - t0 > {timeout_ms}) done(v); else setTimeout(poll, 50); }})(); }})")
        value = self.call("Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True)["result"]
        assert value.get("value"), f"timed out waiting for {condition_js}"
        return value["value"]

    def html(self, selector: str) -> str:
        return self.call("Runtime.evaluate", expression=f"document.querySelector({selector!r}).outerHTML",
                         returnByValue=True)["result"]["value"]

    def close(self):
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(10)


def test_page_shows_thumbnails_and_searches_by_an_uploaded_image(tiny_vl_embedder, media_index, start_server,
                                                                 tmp_path):
    from q3embed.stores import Retriever

    store, folder = media_index
    server = start_server(_app(tiny_vl_embedder, store))
    query = "a red square"
    browser = DevTools(f"{server.url}/?q={urllib.parse.quote(query)}", tmp_path / "profile")
    try:
        n_media = 4  # the two PDF pages and the two PNGs; the text document gets no thumbnail
        assert browser.wait_for(f"document.querySelectorAll('img.loaded').length === {n_media}")
        results = browser.html("#results")
        expected = Retriever(tiny_vl_embedder, store).search(query, top_k=10)
        positions = [results.index(f'<span class="hit-id">{_escaped(h.id)}</span>') for h in expected]
        assert positions == sorted(positions) and len(expected) == 5  # the retriever's order
        for doc_id, label in [("report.pdf#page=1", "report.pdf · page 1"), ("report.pdf#page=2", "report.pdf · page 2"),
                              ("red.png", "red.png")]:
            route = "v1/thumbnail?id=" + urllib.parse.quote(doc_id, safe="")
            assert f'data-thumbnail="{route}"' in results and f"<figcaption>{label}</figcaption>" in results
        # the hostile file name is text: in the caption, the alt attribute and the route, never an element
        assert f"<figcaption>{_escaped(HOSTILE_NAME)}</figcaption>" in results
        assert "<img src=x" not in results and results.count("<img ") == n_media
        assert all(src.startswith("blob:") for src in browser.call(
            "Runtime.evaluate", expression="[...document.querySelectorAll('#results img')].map((i) => i.src)",
            returnByValue=True)["result"]["value"])
        # a titled document shows its title once, above its text
        assert f'<div class="hit-title">{TITLE}</div><p class="hit-text">Mitochondria are the powerhouse' in results
        assert "Mitochondria Mitochondria" not in results
        assert browser.call("Runtime.evaluate", expression="document.title", returnByValue=True)["result"]["value"] \
            == "q3embed search"  # no onerror handler ran

        # search by an uploaded image: the file input, as a user's pick sets it
        root = browser.call("DOM.getDocument")["root"]["nodeId"]
        node = browser.call("DOM.querySelector", nodeId=root, selector="#image")["nodeId"]
        browser.call("DOM.setFileInputFiles", nodeId=node, files=[str(folder / "red.png")])
        status = browser.wait_for("document.getElementById('status').textContent.includes('the image') && "
                                  f"document.querySelectorAll('img.loaded').length === {n_media} && "
                                  "document.getElementById('status').textContent")
        from q3embed.data.media import MediaInput

        by_image = Retriever(tiny_vl_embedder, store).search(MediaInput(images=((folder / "red.png").read_bytes(),)),
                                                             top_k=10)
        assert status == f"{len(by_image)} hits for the image \u201cred.png\u201d"
        results = browser.html("#results")
        positions = [results.index(f'<span class="hit-id">{_escaped(h.id)}</span>') for h in by_image]
        assert positions == sorted(positions)
        # over the page's upload bound: refused in the browser with one line, before it is read
        big = tmp_path / "big.png"
        big.write_bytes(b"\0" * (4 * 1024 * 1024 + 1))
        browser.call("DOM.setFileInputFiles", nodeId=node, files=[str(big)])
        status = browser.wait_for("document.getElementById('status').className === 'error' && "
                                  "document.getElementById('status').textContent")
        assert status == "the image is 4194305 bytes; the limit here is 4194304 bytes"
    finally:
        browser.close()


def _escaped(text: str) -> str:
    """``text`` as the DOM serialises a text node."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
