from __future__ import annotations

import pytest
import torch

from q3embed.config import EOS_TOKEN_ID, NO_TOKEN_ID, YES_TOKEN_ID, format_query
from q3embed.runtime.pooling import last_token_pool, mean_pool, mrl_truncate
from q3embed.runtime.tokenize import EmbeddingTokenizer, RerankTokenizer


@pytest.fixture(scope="module")
def qwen_tok(qwen3_tokenizer_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen3_tokenizer_dir)


def test_genuine_vocabulary_ids(qwen_tok):
    assert len(qwen_tok) == 151_669
    assert qwen_tok.convert_tokens_to_ids(["yes", "no", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]) == [
        YES_TOKEN_ID, NO_TOKEN_ID, EOS_TOKEN_ID, 151644, 151645, 151667, 151668]


def test_saved_tokenizer_lists_its_special_tokens_like_the_official_one(qwen_tok, qwen3_tokenizer_dir):
    """tokenizer_config.json carries added_tokens_decoder (as the hub's does), and it agrees with tokenizer.json."""
    import json

    from q3embed.model.vocab import QWEN3_SPECIAL_TOKENS

    config = json.loads((qwen3_tokenizer_dir / "tokenizer_config.json").read_text())
    assert [config["added_tokens_decoder"][str(EOS_TOKEN_ID + i)]["content"] for i in range(26)] == QWEN3_SPECIAL_TOKENS
    backend = qwen_tok.backend_tokenizer.get_added_tokens_decoder()  # what tokenizer.json itself says
    assert {i: str(t) for i, t in qwen_tok.added_tokens_decoder.items()} == {i: str(t) for i, t in backend.items()}
    assert all(t.special and not t.normalized for t in qwen_tok.added_tokens_decoder.values())
    assert (qwen_tok.eos_token, qwen_tok.pad_token, qwen_tok.padding_side) == ("<|im_end|>", "<|endoftext|>", "left")


def test_query_format():
    assert format_query("Find docs", "what?") == "Instruct: Find docs\nQuery:what?"
    assert format_query(None, "doc") == "doc"


@pytest.mark.parametrize("text", ["hello world", "", "ends with eos<|endoftext|>", "two<|endoftext|><|endoftext|>"])
def test_eos_exactly_once(qwen_tok, text):
    ids = EmbeddingTokenizer(qwen_tok, is_decoder=True, max_length=64)([text])[0]
    assert ids[-1] == EOS_TOKEN_ID and ids.count(EOS_TOKEN_ID) == 1


def test_eos_kept_after_truncation(qwen_tok):
    ids = EmbeddingTokenizer(qwen_tok, is_decoder=True, max_length=16)(["word " * 100])[0]
    assert len(ids) == 16 and ids[-1] == EOS_TOKEN_ID and ids.count(EOS_TOKEN_ID) == 1


def test_eos_not_doubled_by_tokenizer_postprocessor(qwen_tok):
    # A tokenizer revision that appends <|endoftext|> itself must not give two.
    from core_reference import with_eos_postprocessor

    tok = with_eos_postprocessor(qwen_tok)
    assert tok("abc")["input_ids"][-1] == EOS_TOKEN_ID  # it really appends
    ids = EmbeddingTokenizer(tok, is_decoder=True, max_length=64)(["abc"])[0]
    assert ids.count(EOS_TOKEN_ID) == 1


def test_rerank_template_exact_text(qwen_tok):
    rt = RerankTokenizer(qwen_tok, max_length=8192)
    ids = rt([("Q?", "D.")], "I")[0]
    text = qwen_tok.decode(ids)
    assert text == (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
        'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
        "<Instruct>: I\n<Query>: Q?\n<Document>: D.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )


def test_rerank_max_length_too_small_is_refused(qwen_tok):
    with pytest.raises(ValueError, match="max_length 40"):
        RerankTokenizer(qwen_tok, max_length=40)


def test_last_token_pool_left_and_right_padding():
    torch.manual_seed(0)
    h = torch.randn(3, 5, 4)
    lengths = [5, 2, 3]
    right = torch.zeros(3, 5, dtype=torch.long)
    left = torch.zeros(3, 5, dtype=torch.long)
    h_left = torch.zeros_like(h)
    for b, n in enumerate(lengths):
        right[b, :n] = 1
        left[b, 5 - n:] = 1
        h_left[b, 5 - n:] = h[b, :n]
    expected = torch.stack([h[b, n - 1] for b, n in enumerate(lengths)])
    torch.testing.assert_close(last_token_pool(h, right), expected)
    torch.testing.assert_close(last_token_pool(h_left, left), expected)


def test_mean_pool_ignores_padding():
    h = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    torch.testing.assert_close(mean_pool(h, m), torch.tensor([[2.0, 2.0]]))


def test_mrl_truncate():
    e = torch.tensor([[3.0, 4.0, 12.0]])
    torch.testing.assert_close(mrl_truncate(e, 2), torch.tensor([[0.6, 0.8]]))
    torch.testing.assert_close(mrl_truncate(e, None, normalize=False), e)
