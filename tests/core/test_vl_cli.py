"""The verbs with Qwen3-VL models: a folder of PNGs and a multi-page PDF is embedded, indexed,
searched by text and by image (hits name file and page), and reranked; bad images are one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from q3embed.cli import main

Image = pytest.importorskip("PIL.Image")


@pytest.fixture(scope="module")
def media_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    pages = [Image.new("RGB", (300, 420), (40 * i, 120, 200)) for i in range(3)]
    pages[0].save(root / "report.pdf", "PDF", save_all=True, append_images=pages[1:], resolution=72)
    Image.new("RGB", (160, 100), (220, 20, 20)).save(root / "red.png")
    Image.new("RGB", (100, 160), (20, 20, 220)).save(root / "blue.png")
    return root


@pytest.mark.slow  # several model loads through the CLI
def test_index_build_and_search_pages_with_page_numbers(tmp_path, media_folder, tiny_vl_embedding_dir,
                                                         tiny_vl_reranker_dir, capsys):
    idx = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_vl_embedding_dir), "--corpus", str(media_folder),
                 "--out", str(idx), "--device", "cpu"]) == 0
    assert "5 documents" in capsys.readouterr().err
    assert main(["search", str(idx), "a chart", "--top-k", "5", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    pages = sorted((h["meta"]["file"], h["meta"].get("page")) for h in result["hits"])
    assert pages == [("blue.png", None), ("red.png", None), ("report.pdf", 1), ("report.pdf", 2), ("report.pdf", 3)]
    # by image: with the documents' own instruction the image finds itself, at cosine 1
    assert main(["search", str(idx), "--image", str(media_folder / "red.png"), "--instruction",
                 "Represent the user's input.", "--top-k", "1", "--json", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hits"][0]["id"] == "red.png" and result["hits"][0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert main(["search", str(idx), "a chart", "--reranker", str(tiny_vl_reranker_dir), "--top-k", "2",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "rerank" in out and ("page" in out or ".png" in out)


@pytest.mark.slow  # several model loads through the CLI
def test_embed_a_folder_lists_its_rows(tmp_path, media_folder, tiny_vl_embedding_dir, tiny_vl_embedder, capsys):
    out = tmp_path / "v.npy"
    assert main(["embed", "--model", str(tiny_vl_embedding_dir), "--device", "cpu", str(media_folder), str(out)]) == 0
    vecs = np.load(out)
    rows = [json.loads(line) for line in (tmp_path / "v.ids.jsonl").read_text().splitlines()]
    assert vecs.shape == (5, 64) and [r["page"] for r in rows] == [None, None, 1, 2, 3]
    red = tiny_vl_embedder.encode({"image": str(media_folder / "red.png")})
    np.testing.assert_allclose(vecs[1], red, atol=1e-5)


def test_embed_jsonl_rows_with_text_and_image(tmp_path, media_folder, tiny_vl_embedding_dir, tiny_vl_embedder):
    (tmp_path / "red.png").write_bytes((media_folder / "red.png").read_bytes())
    jl = tmp_path / "rows.jsonl"
    jl.write_text('{"id": "a", "text": "a red square", "image": "red.png"}\n{"id": "b", "text": "only text"}\n')
    assert main(["embed", "--model", str(tiny_vl_embedding_dir), "--device", "cpu", str(jl), str(tmp_path / "o")]) == 0
    vecs = np.load(tmp_path / "o.npy")
    want = tiny_vl_embedder.encode([{"text": "a red square", "image": str(tmp_path / "red.png")}, "only text"])
    np.testing.assert_allclose(vecs, want, atol=1e-5)


@pytest.mark.slow  # several model loads through the CLI
def test_rerank_image_documents(media_folder, tiny_vl_reranker_dir, capsys):
    assert main(["rerank", "--model", str(tiny_vl_reranker_dir), "--query", "a red square", "--json",
                 str(media_folder)]) == 0
    ranked = json.loads(capsys.readouterr().out)
    assert sorted(r["id"] for r in ranked) == ["blue.png", "red.png", "report.pdf#page=1", "report.pdf#page=2",
                                                "report.pdf#page=3"]


def test_a_bad_query_image_is_one_line(tmp_path, media_folder, tiny_vl_embedding_dir, capsys):
    fake = tmp_path / "fake.jpg"
    fake.write_text("not an image")
    idx = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_vl_embedding_dir), "--corpus", str(media_folder / "red.png"),
                 "--out", str(idx), "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["search", str(idx), "--image", str(fake)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fake.jpg" in err and "not an image" in err
