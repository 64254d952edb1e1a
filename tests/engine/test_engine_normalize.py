"""A sentence-transformers checkpoint without a Normalize module is a dot-product model: the
Embedder must return its raw pooled vectors, as sentence-transformers does."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

TEXTS = ["The capital of China is Beijing.", "Gravity pulls objects toward each other."]


@pytest.fixture(scope="module")
def unnormalised_dir(tmp_path_factory, tiny_embedding_dir):
    from q3embed.config import DEFAULT_QUERY_INSTRUCTION
    from q3embed.model.st_files import write_sentence_transformers_files

    out = tmp_path_factory.mktemp("no_normalize") / "model"
    shutil.copytree(tiny_embedding_dir, out)
    shutil.rmtree(out / "2_Normalize")
    write_sentence_transformers_files(out, pooling="lasttoken", prompt_instruction=DEFAULT_QUERY_INSTRUCTION,
                                      normalize=False)
    return out


def test_checkpoint_without_normalize_gives_raw_vectors(unnormalised_dir, tiny_embedder):
    from q3embed import Embedder

    emb = Embedder.load(unnormalised_dir, device="cpu", dtype="float32")
    assert emb.layout.normalize is False and tiny_embedder.layout.normalize is True
    raw = emb.encode(TEXTS)  # (2, H)
    norms = np.linalg.norm(raw, axis=1)
    assert not np.allclose(norms, 1.0, atol=1e-3)
    np.testing.assert_allclose(raw / norms[:, None], tiny_embedder.encode(TEXTS), atol=1e-5)
    # the pooled last-layer states themselves (what sentence-transformers returns without Normalize)
    pooled = emb.forward(emb.tokenize(TEXTS)).cpu().numpy()  # (2, H)
    np.testing.assert_allclose(raw, pooled, atol=1e-6)
    # an explicit request still wins over the checkpoint
    np.testing.assert_allclose(np.linalg.norm(emb.encode(TEXTS, normalize=True), axis=1), 1.0, atol=1e-6)
