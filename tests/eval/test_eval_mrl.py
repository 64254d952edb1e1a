"""MRL sweep: dimension parsing, one encoding for all widths, table and PNG."""

from __future__ import annotations

import pytest

from q3embed.eval import evaluate_sts
from q3embed.eval.mrl import mrl_sweep, mrl_table, parse_dims, plot_mrl


def test_parse_dims():
    assert parse_dims("32,64,full", 384) == ([32, 64, 384], [])
    assert parse_dims("64,32,512,full", 384) == ([32, 64, 384], ["512 (model width is 384)"])
    with pytest.raises(ValueError, match="below the MRL minimum"):
        parse_dims("16", 384)
    with pytest.raises(ValueError, match="bad dimension 'x'"):
        parse_dims("32,x", 384)


def test_sts_sweep_matches_single_runs_and_plots(minilm_embedder, stsb_mini, tmp_path):
    cache = tmp_path / "cache"
    sweep = mrl_sweep(minilm_embedder, "sts", stsb_mini, dims="32,128,full", cache_dir=cache)
    assert sweep["dims"] == [32, 128, 384] and len(sweep["scores"]) == 3
    full = evaluate_sts(minilm_embedder, stsb_mini, cache_dir=cache)["main_score"]  # from the sweep's cache
    assert sweep["scores"][-1] == pytest.approx(full, abs=1e-6)
    # truncating the full vectors == asking the model for 32 dimensions
    assert sweep["scores"][0] == pytest.approx(evaluate_sts(minilm_embedder, stsb_mini, dim=32)["main_score"], abs=1e-5)
    table = mrl_table(sweep)
    assert table.splitlines()[-1].startswith("| 384 |") and "100.0" in table.splitlines()[-1]
    png = plot_mrl(sweep, tmp_path / "mrl.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_retrieval_sweep_on_toy_data(tiny_embedder, toy_beir):
    sweep = mrl_sweep(tiny_embedder, "retrieval", toy_beir, dims=[32, "full"])
    assert sweep["dims"] == [32, tiny_embedder.width] and sweep["main_metric"] == "ndcg_at_10"
    with pytest.raises(ValueError, match="retrieval' or 'sts"):
        mrl_sweep(tiny_embedder, "bitext", toy_beir)
