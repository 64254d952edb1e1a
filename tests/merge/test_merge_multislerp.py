"""multislerp and linear: agreement with slerp, the spherical-mean property, weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from q3embed.merge import linear, multislerp, slerp


def _tensors(n, shape=(40, 10), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(dtype) for _ in range(n)]


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 1.0])
def test_two_equal_norm_tensors_match_slerp(t):
    a, b = _tensors(2, seed=1)
    b = b * a.norm() / b.norm()
    assert_close(multislerp([a, b], [1 - t, t]), slerp(a, b, t), rtol=1e-7, atol=1e-7)


def test_result_is_the_weighted_spherical_mean():
    """At the Karcher mean p the weighted log maps sum to zero; norm = weighted mean norm."""
    xs = _tensors(4, seed=2)
    w = np.array([0.1, 0.2, 0.3, 0.4])
    out = multislerp(xs, w.tolist())
    p = (out / out.norm()).reshape(-1).numpy()
    tangent = np.zeros_like(p)
    for wi, x in zip(w, xs):
        u = (x / x.norm()).reshape(-1).numpy()
        theta = np.arccos(np.clip(u @ p, -1, 1))
        tangent += wi * theta / np.sin(theta) * (u - np.cos(theta) * p)
    assert np.linalg.norm(tangent) < 1e-9
    assert out.norm().item() == pytest.approx(sum(wi * x.norm().item() for wi, x in zip(w, xs)), rel=1e-9)


def test_order_of_inputs_does_not_matter():
    xs = _tensors(3, seed=3)
    w = [1.0, 2.0, 3.0]
    assert_close(multislerp(xs, w), multislerp(xs[::-1], w[::-1]), rtol=1e-9, atol=1e-9)


def test_weights_are_normalised_and_a_single_weight_selects_that_input():
    xs = _tensors(3, seed=4)
    assert_close(multislerp(xs, [2, 2, 2]), multislerp(xs, None))
    assert_close(multislerp(xs, [0, 1, 0]), xs[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_dtype_preserved(dtype):
    xs = _tensors(3, dtype=dtype)
    assert multislerp(xs).dtype == dtype and linear(xs).dtype == dtype


def test_colinear_inputs_fall_back_to_the_linear_average():
    x = _tensors(1, seed=5)[0]
    xs = [x, 2 * x, 3 * x]
    assert_close(multislerp(xs), 2 * x)


def test_linear_is_the_weighted_average():
    xs = _tensors(3, seed=6)
    assert_close(linear(xs), (xs[0] + xs[1] + xs[2]) / 3)
    assert_close(linear(xs, [1, 0, 3]), (xs[0] + 3 * xs[2]) / 4)


@pytest.mark.parametrize("weights,match", [([1, -1, 1], "weight -1"), ([0, 0, 0], "sum to 0"), ([1, 2], "2 weights")])
def test_bad_weights_are_refused(weights, match):
    with pytest.raises(ValueError, match=match):
        multislerp(_tensors(3), weights)
