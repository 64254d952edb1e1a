"""A served Qwen3-VL model: images as data: URLs in the simple object form and in vLLM's chat form,
image documents on /v1/rerank, answers equal to the library's; the bad-image battery is 4xx, never 5xx."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")


def _png(w=60, h=40, color=(200, 30, 30), fmt="PNG") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, fmt)
    return buf.getvalue()


def _url(data: bytes, mime="image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _bomb() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def vl_client(tiny_vl_embedder, tiny_vl_reranker, tmp_path_factory):
    from fastapi.testclient import TestClient

    from q3embed.server import ServerSettings, create_app

    root = tmp_path_factory.mktemp("images")
    (root / "red.png").write_bytes(_png())
    app = create_app(tiny_vl_embedder, tiny_vl_reranker,
                     settings=ServerSettings(max_items=64, max_queue=256, max_images=16, image_root=str(root)))
    yield TestClient(app), root
    app.state.q3.close()


def test_object_form_and_chat_form_equal_the_library(vl_client, tiny_vl_embedder):
    client, _ = vl_client
    png = _png()
    r = client.post("/v1/embeddings", json={"input": [{"text": "a red square", "image": _url(png)}, "plain text"]})
    assert r.status_code == 200, r.text
    got = np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)
    want = tiny_vl_embedder.encode([{"text": "a red square", "image": png}, "plain text"])
    np.testing.assert_allclose(got, want, atol=1e-5)
    chat = {"messages": [{"role": "system", "content": "Find the picture"},
                         {"role": "user", "content": [{"type": "text", "text": "a red square"},
                                                      {"type": "image_url", "image_url": {"url": _url(png)}}]}]}
    r = client.post("/v1/embeddings", json=chat)
    assert r.status_code == 200, r.text
    want = tiny_vl_embedder.encode({"text": "a red square", "image": png}, instruction="Find the picture")
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], want, atol=1e-5)


def test_rerank_image_documents_and_image_query(vl_client, tiny_vl_reranker):
    client, _ = vl_client
    png, blue = _png(), _png(color=(20, 20, 200))
    body = {"query": "a red square", "documents": [{"image": _url(png)}, "some text", {"text": "cap", "image": _url(blue)}]}
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 200, r.text
    got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
    want = tiny_vl_reranker.score("a red square", [{"image": png}, "some text", {"text": "cap", "image": blue}])
    np.testing.assert_allclose([got[i] for i in range(3)], want, atol=1e-5)
    r = client.post("/v1/rerank", json={"query": {"image": _url(png)}, "documents": ["text"]})
    assert r.status_code == 200, r.text


def test_paths_only_under_the_image_root(vl_client, tmp_path):
    client, root = vl_client
    assert client.post("/v1/embeddings", json={"input": [{"image": "red.png"}]}).status_code == 200
    outside = tmp_path / "secret.png"
    outside.write_bytes(_png())
    r = client.post("/v1/embeddings", json={"input": [{"image": str(outside)}]})
    assert r.status_code == 400 and "outside the image root" in r.json()["error"]["message"]


@pytest.mark.parametrize("image, status, message", [
    (_url(_png()[:70]), 400, "corrupt or truncated"),
    (_url(_bomb()), 413, "more pixels than the limit"),
    (_url(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"), 400, "image/svg+xml"),
    (_url(b'<svg xmlns="http://www.w3.org/2000/svg"/>'), 400, "SVG"),
    (_url(b"text named .jpg", "image/jpeg"), 400, "not an image"),
    (_url(b"hello", "text/plain"), 400, "data: URL of type 'text/plain'"),
    ("https://169.254.169.254/latest/meta-data.png", 400, "never fetched"),
    ("/etc/passwd", 400, "outside the image root"),
])
def test_bad_image_battery_is_4xx_naming_the_input(vl_client, image, status, message):
    client, _ = vl_client
    r = client.post("/v1/embeddings", json={"input": ["fine", {"text": "x", "image": image}]})
    assert r.status_code == status, r.text
    err = r.json()["error"]["message"]
    assert err.startswith("input[1] image 0") and message in err and "\n" not in err


def test_too_many_images_is_413_before_decoding(vl_client):
    client, _ = vl_client
    junk = _url(b"never decoded")
    r = client.post("/v1/embeddings", json={"input": [{"images": [junk] * 25} for _ in range(20)]})
    assert r.status_code == 413 and "500 images; the limit is 16" in r.json()["error"]["message"]


def test_text_models_refuse_images(client):
    r = client.post("/v1/embeddings", json={"input": [{"image": _url(_png())}]})
    assert r.status_code == 400 and "text model" in r.json()["error"]["message"]


def test_retrieve_by_text_and_by_image_over_an_image_index(tmp_path, tiny_vl_embedder, tiny_vl_reranker):
    from fastapi.testclient import TestClient

    from q3embed.data.pages import read_media_corpus
    from q3embed.server import ServerSettings, create_app
    from q3embed.stores import Retriever
    from q3embed.stores.open import build_store

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "red.png").write_bytes(_png())
    pages = [Image.new("RGB", (200, 280), (30 * i, 90, 160)) for i in range(2)]
    pages[0].save(folder / "doc.pdf", "PDF", save_all=True, append_images=pages[1:], resolution=72)
    store = build_store(tmp_path / "idx", read_media_corpus(folder), tiny_vl_embedder)
    retriever = Retriever(tiny_vl_embedder, store, tiny_vl_reranker)
    app = create_app(tiny_vl_embedder, tiny_vl_reranker, retriever, settings=ServerSettings(max_queue=256, max_items=64))
    client = TestClient(app)
    try:
        r = client.post("/v1/retrieve", json={"query": "a red square", "top_k": 3})
        assert r.status_code == 200, r.text
        hits = r.json()["results"]
        assert sorted((h["meta"]["file"], h["meta"].get("page")) for h in hits) == [
            ("doc.pdf", 1), ("doc.pdf", 2), ("red.png", None)]
        assert all("rerank_score" in h for h in hits)
        # the server's own file paths stay on the server: meta names the file within the corpus
        assert {h["meta"].get("image", h["meta"].get("pdf")) for h in hits} == {"doc.pdf", "red.png"}
        want = retriever.search("a red square", top_k=3)
        assert [h["id"] for h in hits] == [h.id for h in want]
        np.testing.assert_allclose([h["rerank_score"] for h in hits], [h.rerank_score for h in want], atol=1e-5)
        r = client.post("/v1/retrieve", json={"query": {"image": _url(_png())}, "top_k": 1})
        assert r.status_code == 200, r.text
        assert r.json()["results"][0]["id"] in ("red.png", "doc.pdf#page=1", "doc.pdf#page=2")
        r = client.post("/v1/retrieve", json={"query": {"image": _url(b"junk")}, "top_k": 1})
        assert r.status_code == 400 and "query" in r.json()["error"]["message"]
    finally:
        app.state.q3.close()
        store.close()
