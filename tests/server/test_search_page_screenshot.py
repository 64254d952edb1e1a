"""The docs' screenshot of the search page shows the product working: the command docs/server.md gives
ranks the passage that answers the query first with the real all-MiniLM-L6-v2, and the picture in the
docs is the one that command takes (its window size)."""

from __future__ import annotations

from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
QUERY = "how do cells produce energy?"  # the ?q= of the documented chromium command


def test_the_documented_query_ranks_the_answer_first_with_minilm(tmp_path, minilm_embedder):
    from q3embed import Index, Retriever
    from q3embed.cli.demo import sample_paths

    doc = (DOCS / "server.md").read_text(encoding="utf-8")
    assert "?q=how+do+cells+produce+energy%3F&k=4" in doc and "--reranker" not in doc.split("search-page.png")[1][:900]
    index = Index.build(tmp_path / "sample.idx", sample_paths()[0], minilm_embedder)
    hits = Retriever(minilm_embedder, index).search(QUERY, top_k=2)  # what the page's /v1/retrieve runs
    assert [h.id for h in hits] == ["bio-02", "bio-01"]  # mitochondria, then photosynthesis
    assert f"({hits[0].score:.3f})" in doc


def test_the_screenshot_is_the_documented_one():
    from PIL import Image

    with Image.open(DOCS / "search-page.png") as image:
        assert image.size == (1000, 760)  # --window-size=1000,760 in the documented command
