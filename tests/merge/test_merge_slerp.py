"""slerp: exact endpoints, dtype and shape kept, symmetry at t=0.5, the sphere and the angle split evenly,
the lerp fallbacks, and the formula against independent float64 and scipy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from q3embed.merge import lerp, slerp
from q3embed.merge.slerp import slerp_coefficients


def _pair(shape=(64, 32), seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(dtype), torch.randn(shape, generator=g).to(dtype)


def reference_slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Written out independently in float64: angle from explicit norms, then the sin weights."""
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    cos = sum(x * y for x, y in zip(a64 / np.linalg.norm(a64), b64 / np.linalg.norm(b64)))
    theta = math.acos(max(-1.0, min(1.0, cos)))
    out = (math.sin((1 - t) * theta) * a64 + math.sin(t * theta) * b64) / math.sin(theta)
    return out.reshape(a.shape)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_endpoints_are_the_inputs_exactly(dtype):
    a, b = _pair(dtype=dtype)
    assert torch.equal(slerp(a, b, 0.0), a)
    assert torch.equal(slerp(a, b, 1.0), b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_dtype_and_shape_are_preserved(dtype):
    a, b = _pair((3, 5, 7), dtype=dtype)
    out = slerp(a, b, 0.3)
    assert out.dtype == dtype and out.shape == (3, 5, 7)


def test_half_is_symmetric():
    a, b = _pair()
    assert_close(slerp(a, b, 0.5), slerp(b, a, 0.5), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("t", [0.1, 0.25, 0.5, 0.9])
def test_matches_independent_float64_computation(t):
    a, b = _pair(seed=3)
    expected = torch.from_numpy(reference_slerp(a.numpy(), b.numpy(), t)).float()
    assert_close(slerp(a, b, t), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [0.2, 0.5, 0.8])
def test_unit_vectors_match_scipy_geometric_slerp(t):
    scipy_slerp = pytest.importorskip("scipy.spatial").geometric_slerp
    a, b = _pair((50,), seed=4, dtype=torch.float64)
    a, b = a / a.norm(), b / b.norm()
    expected = scipy_slerp(a.numpy(), b.numpy(), t)
    assert_close(slerp(a, b, t), torch.from_numpy(expected), rtol=1e-9, atol=1e-9)


def test_equal_norm_result_stays_on_the_sphere_and_splits_the_angle():
    a, b = _pair((200,), seed=5, dtype=torch.float64)
    b = b * a.norm() / b.norm()
    out = slerp(a, b, 0.3)
    assert out.norm().item() == pytest.approx(a.norm().item(), rel=1e-9)
    angle = lambda x, y: math.acos((x @ y / (x.norm() * y.norm())).item())  # noqa: E731
    assert angle(a, out) == pytest.approx(0.3 * angle(a, b), rel=1e-7)
    assert angle(out, b) == pytest.approx(0.7 * angle(a, b), rel=1e-7)


@pytest.mark.parametrize("scale", [2.0, -3.0])
def test_colinear_inputs_fall_back_to_lerp(scale):
    a, _ = _pair(seed=6)
    b = a * scale  # parallel (or anti-parallel): sin θ = 0, slerp is undefined
    out = slerp(a, b, 0.3)
    assert torch.isfinite(out).all()
    assert_close(out, lerp(a, b, 0.3))
    assert_close(out, 0.7 * a + 0.3 * b)


def test_nearly_colinear_uses_lerp_coefficients_and_others_do_not():
    gram_close = np.array([[1.0, 0.99999], [0.99999, 1.0]])
    assert slerp_coefficients(gram_close, 0.25) == (0.75, 0.25)
    gram_far = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert slerp_coefficients(gram_far, 0.25) != pytest.approx((0.75, 0.25))


def test_zero_tensor_falls_back_to_lerp():
    a, b = torch.zeros(10), torch.randn(10)
    assert_close(slerp(a, b, 0.4), 0.4 * b)


def test_refuses_bad_t_and_mismatched_shapes():
    a, b = _pair()
    with pytest.raises(ValueError, match="t=1.5"):
        slerp(a, b, 1.5)
    with pytest.raises(ValueError, match=r"\(64, 32\) and \(32, 64\)"):
        slerp(a, b.T, 0.5)
