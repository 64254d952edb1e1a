"""The MTEB adapter at protocol level (offline), and mteb's own evaluator on local files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from q3embed.eval.mteb_adapter import TASK_TYPE_INSTRUCTIONS, MtebEncoder, mteb_model, read_instruction_overrides

mteb = pytest.importorskip("mteb")


class RecordingEmbedder:
    """Stands in for an Embedder and records the instruction of each encode call."""

    name, width, max_length = "Qwen/Qwen3-Embedding-0.6B", 8, 512
    layout = SimpleNamespace(is_decoder=True, root=None)

    def __init__(self):
        self.calls = []

    def encode(self, texts, instruction=None, dim=None, **kw):
        self.calls.append((list(texts), instruction))
        rng = np.random.default_rng(len(texts))
        return rng.standard_normal((len(texts), dim or self.width)).astype(np.float32)


def _meta(name="SciFact", type_="Retrieval", prompt=None):
    return SimpleNamespace(name=name, type=type_, prompt=prompt)


def test_protocol_and_metadata():
    from mteb.models.models_protocols import EncoderProtocol

    enc = MtebEncoder(RecordingEmbedder())
    assert isinstance(enc, EncoderProtocol)
    meta = enc.mteb_model_meta
    assert meta.name == "Qwen/Qwen3-Embedding-0.6B" and meta.similarity_fn_name.value == "cosine"
    assert meta.embed_dim == 8 and meta.use_instructions is True


def test_instructions_queries_only_by_task_type_with_overrides():
    from mteb.types import PromptType

    emb = RecordingEmbedder()
    enc = MtebEncoder(emb, instructions={"SciFact": "Given a claim, find evidence"})
    batches = [{"text": ["a", "b"]}, {"text": ["c"]}]
    out = enc.encode(batches, task_metadata=_meta(), hf_split="test", hf_subset="default", prompt_type=PromptType.query)
    assert out.shape == (3, 8) and emb.calls[-1] == (["a", "b", "c"], "Given a claim, find evidence")
    enc.encode(batches, task_metadata=_meta(), hf_split="test", hf_subset="default", prompt_type=PromptType.document)
    assert emb.calls[-1][1] is None  # documents never get an instruction
    enc.encode(batches, task_metadata=_meta("STS12", "STS"), hf_split="test", hf_subset="default")
    assert emb.calls[-1][1] == TASK_TYPE_INSTRUCTIONS["STS"]  # symmetric task: both sides
    enc.encode(batches, task_metadata=_meta("NFCorpus", "Retrieval", {"query": "Given a question, find articles"}),
               hf_split="test", hf_subset="default", prompt_type="query")
    assert emb.calls[-1][1] == "Given a question, find articles"  # the task's own prompt beats the type default
    assert set(TASK_TYPE_INSTRUCTIONS) >= {"Retrieval", "STS", "Classification", "Clustering", "PairClassification",
                                          "Reranking", "BitextMining", "Summarization", "MultilabelClassification"}


def test_similarity_is_cosine():
    enc = MtebEncoder(RecordingEmbedder())
    a = np.array([[3.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    sim = enc.similarity(a, a)
    assert sim.shape == (2, 2) and float(sim[0, 1]) == pytest.approx(2 ** -0.5)
    assert enc.similarity_pairwise(a, a).numpy() == pytest.approx([1.0, 1.0])


def test_overrides_from_json(tmp_path):
    p = tmp_path / "instr.json"
    p.write_text(json.dumps({"SciFact": "x"}))
    assert read_instruction_overrides(p) == {"SciFact": "x"}
    p.write_text(json.dumps({"SciFact": 3}))
    with pytest.raises(ValueError, match="task name to instruction"):
        read_instruction_overrides(p)


def test_encoders_get_no_instruction_by_default(tiny_embedder, minilm_embedder):
    assert mteb_model(minilm_embedder).use_instructions is False
    assert mteb_model(tiny_embedder).use_instructions is True


def test_mteb_runs_local_retrieval_task_and_agrees_with_q3embed(minilm_embedder, scifact_mini, tmp_path):
    from q3embed.eval import evaluate_retrieval
    from q3embed.eval.mteb_local import local_retrieval_task

    task = local_retrieval_task(scifact_mini, name="SciFactMini")
    # mteb's run fills the shared embedding cache, so q3embed's run below re-encodes nothing but queries
    result = mteb.evaluate(mteb_model(minilm_embedder, cache_dir=tmp_path), task, cache=None, show_progress_bar=False)
    ours = evaluate_retrieval(minilm_embedder, scifact_mini, cache_dir=tmp_path)
    scores = result.task_results[0].scores["test"][0]
    assert scores["ndcg_at_10"] == pytest.approx(ours["ndcg_at_10"], abs=1e-5)
    assert scores["map_at_100"] == pytest.approx(ours["map_at_100"], abs=1e-5)
    assert scores["mrr_at_10"] == pytest.approx(ours["mrr_at_10"], abs=1e-5)
