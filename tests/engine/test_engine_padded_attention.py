"""The CPU padded, bucketed attention (``_attend_padded``) against the per-sequence loop.

Both run on the tiny random Qwen3 in fp32; the padded path is forced (every row in one bucket)
and also run under the default bucketing rule, for rows without a prefix, after one shared
prefix, after two prefix groups, with lengths 1..N mixed, and for the final layer's last tokens.
"""

from __future__ import annotations

import pytest
import torch

from q3embed.runtime import fast_qwen3
from q3embed.runtime.fast_qwen3 import PackedQwen3, _AttentionPlan, _padded_buckets
from q3embed.runtime.packing import pack


def _ids(g, n):
    return torch.randint(0, 150_000, (n,), generator=g).tolist()


def _case(kind):
    """(rows, prefixes or None, prefix group per row)."""
    g = torch.Generator().manual_seed(0)
    lengths = [1, 5, 2, 9, 3, 7, 1, 4]
    rows = [_ids(g, n) for n in lengths]
    if kind == "plain":
        return rows, None, None
    if kind == "one_prefix":
        return rows, [_ids(g, 11)], [0] * len(rows)
    return rows, [_ids(g, 11), _ids(g, 4)], [0, 1, 1, 0, 1, 0, 0, 1]  # two groups


def _attend_both(model, rows, prefixes, groups, last_only):
    """Outputs of the loop and of the padded path on the same layer-0 q, k, v."""
    fast = PackedQwen3(model)
    prefix = fast.prefix_cache(prefixes) if prefixes else None
    plen = [prefix.length(gr) for gr in groups] if prefix else None
    batch = pack(rows, "cpu", plen, groups)
    plan = _AttentionPlan(batch, prefix, torch.device("cpu"), varlen=False)
    n, nh, kv, hd = batch.input_ids.shape[0], fast.n_heads, fast.n_kv, fast.head_dim
    g = torch.Generator().manual_seed(1)
    q = torch.randn(len(rows) if last_only else n, nh, hd, generator=g)
    k, v = torch.randn(n, kv, hd, generator=g), torch.randn(n, kv, hd, generator=g)
    pk = prefix.keys[0] if prefix else None
    pv = prefix.values[0] if prefix else None
    ref = fast._attend_loop(q, k, v, pk, pv, plan, last_only)
    buckets = _padded_buckets(plan, last_only, torch.device("cpu"))  # the path itself, whatever the rule picks
    return ref, buckets, lambda: fast._attend_padded(q, k, v, pk, pv, buckets), plan


@pytest.mark.parametrize("kind", ["plain", "one_prefix", "two_groups"])
@pytest.mark.parametrize("last_only", [False, True])
def test_padded_attention_matches_loop(tiny_reranker, monkeypatch, kind, last_only):
    rows, prefixes, groups = _case(kind)
    monkeypatch.setattr(fast_qwen3, "_PAD_FACTOR", float("inf"))  # one bucket: maximal padding
    ref, buckets, padded, _ = _attend_both(tiny_reranker.model, rows, prefixes, groups, last_only)
    assert len(buckets.buckets) == 1
    out = padded()
    assert out.shape == ref.shape and torch.isfinite(out).all()
    assert (out - ref).abs().max() < 1e-5
    monkeypatch.setattr(fast_qwen3, "_PAD_FACTOR", 1.2)  # several buckets: the reordering is exercised
    ref, buckets, padded, _ = _attend_both(tiny_reranker.model, rows, prefixes, groups, last_only)
    assert 1 < len(buckets.buckets) < len(rows)
    assert (padded() - ref).abs().max() < 1e-5


def test_padded_attention_gradients_match_loop(tiny_reranker, monkeypatch):
    """Training runs this forward too: padded query rows must not spread NaN into dK/dV."""
    monkeypatch.setattr(fast_qwen3, "_PAD_FACTOR", float("inf"))
    rows, prefixes, groups = _case("two_groups")
    fast = PackedQwen3(tiny_reranker.model)
    batch = pack(rows)
    plan = _AttentionPlan(batch, None, torch.device("cpu"), varlen=False)
    g = torch.Generator().manual_seed(2)
    n = batch.input_ids.shape[0]
    leaves = [torch.randn(n, h, fast.head_dim, generator=g) for h in (fast.n_heads, fast.n_kv, fast.n_kv)]
    grads = []
    for run in (lambda q, k, v: fast._attend_loop(q, k, v, None, None, plan, False),
                lambda q, k, v: fast._attend_padded(q, k, v, None, None, _padded_buckets(plan, False, q.device))):
        xs = [t.clone().requires_grad_() for t in leaves]
        (run(*xs) ** 2).sum().backward()
        grads.append([x.grad for x in xs])
    for a, b in zip(*grads):
        assert torch.isfinite(b).all() and (a - b).abs().max() < 1e-4


def test_bucket_rule_bounds_padding():
    """Each bucket's padded box stays within _PAD_FACTOR of its rows' own boxes (or holds one row)."""
    q = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 100, 100, 99]
    k = [x + 70 for x in q]
    buckets = fast_qwen3._bucket_rows(q, k)
    assert sorted(b for bk in buckets for b in bk) == list(range(len(q)))
    for bk in buckets:
        box = len(bk) * max(q[b] for b in bk) * max(k[b] for b in bk)
        assert len(bk) == 1 or box <= fast_qwen3._PAD_FACTOR * sum(q[b] * k[b] for b in bk)
    assert len(buckets) < len(q)  # the three ~100-token rows share one call


def test_forward_uses_padded_path_and_matches_loop(tiny_reranker, monkeypatch):
    """The whole packed forward with a two-group prefix: default rule vs the loop everywhere."""
    rows, prefixes, groups = _case("two_groups")
    fast = PackedQwen3(tiny_reranker.model)
    with torch.inference_mode():
        prefix = fast.prefix_cache(prefixes)
        batch = pack(rows, "cpu", [prefix.length(gr) for gr in groups], groups)
        monkeypatch.setattr(fast_qwen3, "_PAD_FACTOR", float("inf"))
        used = []
        choose = fast_qwen3._choose_padded
        monkeypatch.setattr(fast_qwen3, "_choose_padded", lambda plan, last: used.append(choose(plan, last)) or used[-1])
        padded = fast.last_hidden(batch, prefix)
        monkeypatch.setattr(_AttentionPlan, "padded", lambda self, last_only: None)
        loop = fast.last_hidden(batch, prefix)
    assert used[0] is not None and used[1] is None  # padded for all queries; the loop for last tokens
    assert (padded - loop).abs().max() < 1e-5
