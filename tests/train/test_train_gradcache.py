"""GradCache gives the un-chunked step's gradients on a small batch."""

from __future__ import annotations

import pytest
import torch

from q3embed import Embedder
from q3embed.train.data import text_key
from q3embed.train.encoding import EmbeddingForward
from q3embed.train.gradcache import gradcache_step, plain_step
from q3embed.train.losses import InfoNCELoss


@pytest.mark.parametrize("chunk", [pytest.param(1, marks=pytest.mark.slow), 4])
def test_gradcache_matches_plain_gradients(tiny_embedding_dir, chunk):
    emb = Embedder.load(tiny_embedding_dir, device="cpu", dtype="float32")
    model = emb.model.train()
    encode = EmbeddingForward(model, "lasttoken", emb.pad_id, torch.device("cpu"))
    queries = [f"question {i} about topic {i % 3}" for i in range(6)]
    pos = [f"passage {i} on topic {i % 3}" for i in range(6)]
    neg = [f"off-topic text {i} {k}" for i in range(6) for k in range(2)]
    groups = [emb.tokenize(queries, "find it"), emb.tokenize(pos), emb.tokenize(neg)]
    keys = torch.tensor([text_key(p) for p in pos])
    loss = InfoNCELoss(temperature=0.05)

    def loss_fn(q, p, n):
        return loss(q, p, n.view(6, 2, -1), pos_keys=keys)

    model.zero_grad()
    want_loss = plain_step(encode, groups, loss_fn)
    want = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    got_loss = gradcache_step(encode, groups, loss_fn, chunk_size=chunk, device=torch.device("cpu"))
    assert got_loss.item() == pytest.approx(want_loss.item(), abs=1e-6)
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, want[n], atol=1e-6, rtol=1e-4, msg=lambda m: f"{n}: {m}")
    assert max(g.abs().max().item() for g in want.values()) > 1e-4  # the check compared real gradients


def test_gradcache_replays_dropout_masks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 4)).train()
    xs = [torch.randn(8) for _ in range(6)]

    def encode(rows):
        return net(torch.stack(rows))

    def loss_fn(a, b):
        return (a @ b.T).logsumexp(1).mean()

    torch.manual_seed(1)
    gradcache_step(encode, [xs[:3], xs[3:]], loss_fn, chunk_size=3, device=torch.device("cpu"))
    want = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch.manual_seed(1)  # chunk == group size: the plain step draws the same dropout masks
    plain_step(encode, [xs[:3], xs[3:]], loss_fn)
    for g, w in zip([p.grad for p in net.parameters()], want):
        torch.testing.assert_close(g, w)
