"""A torch without torch.nn.attention.varlen is said out loud, once, not silently."""

from __future__ import annotations

import sys
import warnings

from q3embed.runtime import fast_qwen3


def test_missing_varlen_warns_once(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.nn.attention.varlen", None)  # import now raises ImportError
    fast_qwen3._warn_no_varlen.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fast_qwen3._varlen_attention() is None
        assert fast_qwen3._varlen_attention() is None
    said = [w for w in caught if "torch.nn.attention.varlen" in str(w.message)]
    assert len(said) == 1 and "per-sequence" in str(said[0].message)
    fast_qwen3._warn_no_varlen.cache_clear()
