"""The paper's InfoNCE against a slow loop that spells out Z_i term by term; MRL; reranker CE."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from q3embed.config import NO_TOKEN_ID, YES_TOKEN_ID
from q3embed.train.losses import InfoNCELoss, MatryoshkaLoss, RerankLabelLoss


def cos(a, b) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


def reference_loss(q, p, n, pos_keys, neg_keys, tau, hard=True, docs=True, qq=True, dd=True, mask=True, margin=0.1):
    """L = -1/N sum_i log(e^{s(q_i,d_i+)/tau} / Z_i), written as plainly as possible."""
    N = q.shape[0]
    K = n.shape[1] if (hard and n is not None) else 0
    # In-batch documents: every positive and (with hard negatives) every hard negative, with its row.
    batch_docs = [(j, p[j], int(pos_keys[j])) for j in range(N)]
    batch_docs += [(j, n[j, k], int(neg_keys[j, k])) for j in range(N) for k in range(K)]
    total = 0.0
    for i in range(N):
        s_pos = cos(q[i], p[i])

        def keep(score, key=None):
            if not mask:
                return True
            if score > s_pos + margin:
                return False
            return key is None or key != int(pos_keys[i])

        z = math.exp(s_pos / tau)
        for k in range(K):
            s = cos(q[i], n[i, k])
            if keep(s, int(neg_keys[i, k])):
                z += math.exp(s / tau)
        for j, d, key in batch_docs:
            if j == i:
                continue
            if docs:
                s = cos(q[i], d)
                if keep(s, key):
                    z += math.exp(s / tau)
            if dd:
                s = cos(p[i], d)
                if keep(s, key):
                    z += math.exp(s / tau)
        if qq:
            for j in range(N):
                if j != i:
                    s = cos(q[i], q[j])
                    if keep(s):
                        z += math.exp(s / tau)
        total += -math.log(math.exp(s_pos / tau) / z)
    return total / N


def batch(seed=0, N=5, K=3, H=16):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(N, H, generator=g, dtype=torch.float64)
    p = q + 0.8 * torch.randn(N, H, generator=g, dtype=torch.float64)  # positives near their query
    n = torch.randn(N, K, H, generator=g, dtype=torch.float64)
    p[0] = q[0] + 2.0 * torch.randn(H, generator=g, dtype=torch.float64)  # a loose positive, so that
    n[0, 1] = q[0] * 3.0  # this false negative (cosine 1.0) scores above s(q_0, d_0+) + 0.1
    n[2, 0] = p[2]  # a hard negative that is the positive's text
    p[3] = p[1]  # two rows sharing a positive document
    pos_keys = torch.arange(100, 100 + N)
    pos_keys[3] = pos_keys[1]
    neg_keys = torch.arange(200, 200 + N * K).view(N, K)
    neg_keys[2, 0] = pos_keys[2]
    return q, p, n, pos_keys, neg_keys


SWITCHES = [
    dict(),  # the full Z_i with the mask
    dict(mask=False),
    dict(hard=False, qq=False, dd=False, mask=False),  # plain in-batch InfoNCE
    dict(qq=False, dd=False, mask=False),  # plus hard negatives
    dict(docs=False),
    dict(hard=False),
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "full")
@pytest.mark.parametrize("tau", [0.05, 1.0])
def test_infonce_matches_loop_reference(switches, tau):
    q, p, n, pk, nk = batch()
    loss = InfoNCELoss(temperature=tau, hard_negatives=switches.get("hard", True),
                       in_batch_documents=switches.get("docs", True), in_batch_queries=switches.get("qq", True),
                       in_batch_doc_doc=switches.get("dd", True), false_negative_mask=switches.get("mask", True))
    got = loss(q, p, n, pos_keys=pk, neg_keys=nk)
    want = reference_loss(q, p, n, pk, nk, tau, **switches)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_mask_changes_the_loss_and_drops_exactly_the_flagged_terms():
    q, p, n, pk, nk = batch()
    masked = InfoNCELoss(temperature=0.05)(q, p, n, pos_keys=pk, neg_keys=nk)
    plain = InfoNCELoss(temperature=0.05, false_negative_mask=False)(q, p, n, pos_keys=pk, neg_keys=nk)
    assert masked.item() < plain.item()  # the false negatives inflated Z_i

    # With hard negatives only, the flagged terms of batch() are: n[0, 1] (planted, 1.0 > 0.796 + 0.1),
    # n[2, 0] (planted: d_2+'s text, score equal to s+), and n[3, 1], n[3, 2] (0.154 and 0.130 > -0.096 + 0.1:
    # row 3's borrowed positive scores low). Z_i written out without exactly these must be the loss.
    flagged = {(0, 1), (2, 0), (3, 1), (3, 2)}
    only_hard = dict(in_batch_documents=False, in_batch_queries=False, in_batch_doc_doc=False)
    got = InfoNCELoss(temperature=0.05, **only_hard)(q, p, n, pos_keys=pk, neg_keys=nk).item()

    def by_hand(dropped):
        total = 0.0
        for i in range(q.shape[0]):
            s_pos = cos(q[i], p[i])
            z = math.exp(s_pos / 0.05) + sum(math.exp(cos(q[i], n[i, k]) / 0.05)
                                             for k in range(n.shape[1]) if (i, k) not in dropped)
            total += math.log(z) - s_pos / 0.05
        return total / q.shape[0]

    assert got == pytest.approx(by_hand(flagged), rel=1e-6)
    for kept in flagged:  # dropping one term fewer (or none) gives a different loss
        assert got != pytest.approx(by_hand(flagged - {kept}), rel=1e-3)
    assert got != pytest.approx(by_hand(set()), rel=1e-3)


def test_identical_document_is_masked_even_below_the_margin():
    # Row 1's only hard negative is the text of its positive, embedded slightly differently so
    # its score stays under s(q, d+) + 0.1: only the identity rule can drop it.
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.1], [0.1, 1.0]])
    n = torch.tensor([[[0.0, -1.0]], [[0.12, 1.0]]])
    pk, nk = torch.tensor([1, 2]), torch.tensor([[7], [2]])
    only_hard = dict(in_batch_documents=False, in_batch_queries=False, in_batch_doc_doc=False)
    with_ids = InfoNCELoss(0.05, **only_hard)(q, p, n, pos_keys=pk, neg_keys=nk)
    without_ids = InfoNCELoss(0.05, **only_hard)(q, p, n)
    assert with_ids.item() < without_ids.item()
    assert with_ids.item() == pytest.approx(reference_loss(q, p, n, pk, nk, 0.05, docs=False, qq=False, dd=False), abs=1e-6)


def test_gradients_flow_to_every_input():
    q, p, n, pk, nk = (t.clone().requires_grad_() if t.is_floating_point() else t for t in batch())
    InfoNCELoss()(q, p, n, pos_keys=pk, neg_keys=nk).backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (q, p, n))


def test_matryoshka_is_weighted_sum_over_truncations():
    q, p, n, pk, nk = batch(H=32)
    base = InfoNCELoss(temperature=0.05)
    mrl = MatryoshkaLoss(base, dims=[8, 32], weights=[0.5, 2.0])
    want = 0.5 * base(q[:, :8], p[:, :8], n[..., :8], pos_keys=pk, neg_keys=nk) + 2.0 * base(q, p, n, pos_keys=pk, neg_keys=nk)
    assert mrl(q, p, n, pos_keys=pk, neg_keys=nk).item() == pytest.approx(want.item(), rel=1e-6)
    with pytest.raises(ValueError):
        MatryoshkaLoss(base, dims=[8, 16], weights=[1.0])


@pytest.mark.parametrize("mode", ["vocab", "yes_no"])
def test_rerank_label_loss(mode):
    g = torch.Generator().manual_seed(0)
    V, H = 10_000, 8
    head = torch.randn(V, H, generator=g)
    last = torch.randn(4, H, generator=g)
    labels = torch.tensor([1, 0, 1, 0])
    got = RerankLabelLoss(mode)(last, head, labels)
    logits = last @ head.T
    if mode == "yes_no":
        logits = logits[:, [NO_TOKEN_ID, YES_TOKEN_ID]]
        target = labels
    else:
        target = torch.where(labels.bool(), YES_TOKEN_ID, NO_TOKEN_ID)
    want = sum(-torch.log_softmax(logits[b], 0)[target[b]] for b in range(4)) / 4
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
