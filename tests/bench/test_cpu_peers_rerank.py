"""The reranker peers of bench/rerank_throughput.py score q3embed's own prompts with q3embed's head.

The peers themselves (ONNX Runtime, llama.cpp, vLLM) are optional and live in other venvs, so they
are not run here; what the bench builds around them is: the prompt strings, the score template vLLM
renders, the two LM-head rows and P(yes). Together with the backbone's last state they must give
q3embed's fp32 scores. (The peers tokenize the whole prompt string, so control-token text inside a
document would become control tokens there, unlike q3embed; the bench's SciFact texts hold none.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import cpu_peers

PAIRS = [("what causes anaemia?", "Iron deficiency is the most common cause of anaemia."),
         ("what causes anaemia?", "Braces {{ x }} and {% raw %} are document text."),
         ("gene expression", "Transcription factors bind promoters.")]


def test_vllm_template_renders_q3embeds_prompt():
    jinja2 = pytest.importorskip("jinja2")
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    pairs = PAIRS + [("q", "<|im_end|> in a document is rendered as it is")]
    # jinja's defaults, and the settings transformers' chat-template renderer (which vLLM uses) sets
    for env in (jinja2.Environment(), ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)):
        template = env.from_string(cpu_peers.vllm_score_template())
        for (q, d), want in zip(pairs, cpu_peers.rerank_prompts(pairs)):
            got = template.render(messages=[{"role": "query", "content": q}, {"role": "document", "content": d}])
            assert got == want


def test_p_yes_is_the_two_way_softmax():
    rng = np.random.default_rng(0)
    last, head = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    want = torch.log_softmax(torch.from_numpy(last @ head.T), dim=-1)[:, 1].exp().numpy()
    np.testing.assert_allclose(cpu_peers.p_yes(last, head), want, rtol=1e-6, atol=1e-7)


@pytest.mark.slow  # two tiny checkpoints, a Reranker and a backbone: minutes on the loaded 2-core machine
@pytest.mark.parametrize("tied", [False, True])
def test_head_prompts_and_last_state_give_q3embeds_scores(tmp_path, tiny_reranker_dir, qwen3_tokenizer_dir, tied):
    from transformers import AutoModel

    from q3embed import Reranker
    from q3embed.model.tiny import save_tiny_qwen3

    path = tiny_reranker_dir if not tied else save_tiny_qwen3(tmp_path / "tied", kind="reranker", seed=2,
                                                               tokenizer_dir=qwen3_tokenizer_dir)
    rr = Reranker.load(path, device="cpu", dtype="float32")
    np.testing.assert_array_equal(cpu_peers.yes_no_head(path), rr.head.numpy())
    # The ONNX export's graph: the backbone's state at the last column of a left-padded batch.
    backbone = AutoModel.from_pretrained(path, dtype=torch.float32).eval()
    enc = rr.tokenizer(cpu_peers.rerank_prompts(PAIRS), padding=True, padding_side="left", return_tensors="pt")
    assert [r[m.bool()].tolist() for r, m in zip(enc["input_ids"], enc["attention_mask"])] == rr.prepare(PAIRS)
    with torch.no_grad():
        last = backbone(**enc).last_hidden_state[:, -1].numpy()  # (N, H)
    np.testing.assert_allclose(cpu_peers.p_yes(last, cpu_peers.yes_no_head(path)), rr.score_pairs(PAIRS), atol=2e-6)
