"""Retrieval evaluation over local image corpora (BEIR with an 'image' field, ViDoRe-style) with the tiny
Qwen3-VL model: the mechanics (loading, embedding images, scoring), not quality."""

from __future__ import annotations

import json

import numpy as np
import pytest

from q3embed.eval.retrieval import evaluate_retrieval
from q3embed.eval.visual import load_visual_retrieval

Image = pytest.importorskip("PIL.Image")


def _images(root, n=3):
    (root / "images").mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (64 + 16 * i, 48), (60 * i, 100, 200)).save(root / "images" / f"p{i}.png")


def _beir(root):
    _images(root)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "image": f"images/p{i}.png"}) + "\n"
                                               for i in range(3)))
    (root / "queries.jsonl").write_text('{"_id": "q0", "text": "a blue page"}\n{"_id": "q1", "text": "red"}\n')
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td2\t1\n")
    return root


def _vidore(root):
    _images(root)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"corpus-id": i, "image": f"images/p{i}.png"}) + "\n"
                                               for i in range(3)))
    (root / "queries.jsonl").write_text('{"query-id": 7, "query": "a chart"}\n')
    (root / "qrels.jsonl").write_text('{"query-id": 7, "corpus-id": 1, "score": 1}\n')
    return root


@pytest.mark.parametrize("layout", [_beir, _vidore])
def test_image_corpus_retrieval_is_scored(tmp_path, tiny_vl_embedder, layout):
    root = layout(tmp_path / "set")
    corpus, queries, qrels = load_visual_retrieval(root)
    assert len(corpus) == 3 and set(qrels) == set(queries)
    result = evaluate_retrieval(tiny_vl_embedder, root, top_k=3)
    assert 0.0 <= result["ndcg_at_3"] <= 1.0 and result["num_documents"] == 3
    assert result["num_queries"] == len(queries)
    # the scores are those of the vectors the embedder gives the images themselves
    want = tiny_vl_embedder.encode_documents([{"image": str(root / "images" / "p0.png")}])
    got = tiny_vl_embedder.encode_documents([corpus[next(iter(corpus))]])
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_text_model_is_refused_on_an_image_corpus(tmp_path, tiny_embedder):
    root = _beir(tmp_path / "set")
    with pytest.raises(ValueError, match="needs a Qwen3-VL"):
        evaluate_retrieval(tiny_embedder, root)
