"""Retrieval metrics (pytrec_eval underneath) against hand-computed cases (trec_eval semantics)."""

from __future__ import annotations

import math

import pytest

from q3embed.eval.metrics import rank_documents, retrieval_metrics

L2_3 = math.log2(3)
L2_5 = math.log2(5)


def test_ties_break_by_doc_id_descending():
    # a, b, d tie at 0.5: trec_eval orders them d, b, a
    assert rank_documents({"a": 0.5, "b": 0.5, "c": 0.9, "d": 0.5}) == ["c", "d", "b", "a"]


def test_graded_ndcg_uses_linear_gain_and_ties():
    run = {"q1": {"a": 0.5, "b": 0.5, "c": 0.9, "d": 0.5}}  # ranking c, d, b, a
    qrels = {"q1": {"a": 2, "b": 0, "c": 1}}
    m = retrieval_metrics(run, qrels, k_values=(1, 3, 10))
    ideal3 = 2 + 1 / L2_3  # a (gain 2) then c (gain 1)
    assert m["ndcg_at_1"] == pytest.approx(1 / 2)  # c has gain 1, ideal top-1 has gain 2
    assert m["ndcg_at_3"] == pytest.approx(1 / ideal3)
    assert m["ndcg_at_10"] == pytest.approx((1 + 2 / L2_5) / ideal3)
    assert m["map_at_10"] == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert m["map_at_3"] == pytest.approx((1 / 1) / 2)  # divided by all relevant docs, not retrieved ones
    assert m["recall_at_3"] == pytest.approx(0.5)
    assert m["recall_at_10"] == pytest.approx(1.0)
    assert m["precision_at_3"] == pytest.approx(1 / 3)
    assert m["precision_at_10"] == pytest.approx(2 / 10)  # P@k divides by k even if fewer were retrieved
    assert m["mrr_at_10"] == pytest.approx(1.0)


def test_missing_qrels_mean_not_relevant_and_unjudged_queries_are_not_scored():
    run = {
        "q1": {"x": 0.9, "y": 0.8, "rel": 0.1},  # x, y are not in the qrels at all
        "q_unjudged": {"rel": 1.0},  # not in the qrels: not scored, not in the mean
    }
    qrels = {"q1": {"rel": 1}, "q_not_run": {"rel": 1}}  # q_not_run has no run: not scored either
    m = retrieval_metrics(run, qrels, k_values=(1, 3))
    assert m["ndcg_at_3"] == pytest.approx(1 / 2)  # rank 3: 1/log2(4)
    assert m["mrr_at_3"] == pytest.approx(1 / 3)
    assert m["ndcg_at_1"] == 0.0


def test_query_without_relevant_documents_scores_zero_and_counts_in_mean():
    run = {"q1": {"a": 0.9}, "q2": {"b": 0.9}}
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}  # q2 judged, nothing relevant
    m = retrieval_metrics(run, qrels, k_values=(10,))
    for name in ("ndcg_at_10", "map_at_10", "recall_at_10", "mrr_at_10"):
        assert m[name] == pytest.approx(0.5), name


def test_one_query_by_hand():
    judgments = {"a": 1, "b": 1, "c": 3}
    run = {"q": {"x": 0.9, "c": 0.8, "y": 0.7, "a": 0.6}}  # ranking x, c, y, a
    m = retrieval_metrics(run, {"q": judgments}, k_values=(1, 2, 4))
    assert m["mrr_at_1"] == 0.0
    assert m["mrr_at_2"] == 0.5
    assert m["map_at_4"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    ideal = 3 + 1 / L2_3 + 1 / 2
    assert m["ndcg_at_4"] == pytest.approx((3 / L2_3 + 1 / L2_5) / ideal)


def test_no_overlap_is_an_error():
    with pytest.raises(ValueError, match="nothing to score"):
        retrieval_metrics({"q": {"a": 1.0}}, {"other": {"a": 1}})
