"""Search modes: the analyzer, the fusion arithmetic, and lexical/hybrid search in the embedded index."""

from __future__ import annotations

import pytest

from q3embed.stores import FusionConfig, Hit, Index
from q3embed.stores.analysis import analyze
from q3embed.stores.fusion import fuse


def test_english_analysis_folds_case_stems_and_drops_stop_words():
    assert analyze("The Proteins ARE binding to DNA-repair genes") == ["protein", "bind", "dna", "repair", "gene"]
    assert analyze("ＦＵＬＬ-width Straße") == ["full", "width", "strass"]  # NFKC + casefold
    assert analyze("The Proteins", "simple") == ["the", "proteins"]


def test_chinese_without_spaces_becomes_character_bigrams():
    assert analyze("北京大学") == ["北京", "京大", "大学"]
    assert analyze("猫") == ["猫"]
    assert analyze("蛋白质 protein 折叠") == ["蛋白", "白质", "protein", "折叠"]
    assert analyze("東京タワー") == ["東京", "京タ", "タワ", "ワー"]


def _hits(ids, scores=None):
    return [Hit(id=i, score=s) for i, s in zip(ids, scores or [1.0 / (n + 1) for n in range(len(ids))])]


def test_rrf_is_the_sum_of_reciprocal_ranks_with_k_60_and_labels_each_stage():
    fused = fuse(_hits(["a", "b", "c"]), _hits(["c", "d"]), top_k=10)
    want = {"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62}
    assert [h.id for h in fused] == ["c", "a", "b", "d"]  # b and d tie: the id decides, in every store
    assert {h.id: h.score for h in fused} == pytest.approx(want)
    assert {h.id: h.stages for h in fused} == {"a": ["dense"], "b": ["dense"], "c": ["dense", "lexical"],
                                                "d": ["lexical"]}
    assert len(fuse(_hits(["a", "b"]), _hits(["c"]), top_k=2)) == 2


def test_weighted_fusion_normalises_each_list_then_mixes():
    dense = _hits(["a", "b", "c"], [0.9, 0.5, 0.1])  # normalised: 1, 0.5, 0
    lexical = _hits(["c", "a"], [12.0, 2.0])  # normalised: 1, 0
    fused = fuse(dense, lexical, 3, FusionConfig(method="weighted", dense_weight=0.25))
    assert {h.id: h.score for h in fused} == pytest.approx({"a": 0.25, "b": 0.125, "c": 0.75})


@pytest.mark.parametrize("kwargs,msg", [({"method": "max"}, "rrf, weighted"), ({"k": 0}, "k must be"),
                                        ({"dense_weight": 2.0}, r"\[0, 1\]"), ({"depth": 0}, "depth")])
def test_fusion_settings_are_checked(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        FusionConfig(**kwargs)


@pytest.fixture
def idx(tmp_path, hash_embedder, doc_maker):
    docs = doc_maker(40) + [("zh1", "北京大学的研究人员发现了一种新的蛋白质"), ("zh2", "上海的天气很好")]
    return Index.build(tmp_path / "idx", docs, hash_embedder)


def test_lexical_finds_by_words_and_chinese_by_bigrams(idx):
    hits = idx.search("Cooking item7", top_k=3, mode="lexical")
    assert hits[0].id == "d7" and hits[0].stages == ["lexical"]
    assert [h.id for h in idx.search("蛋白质", top_k=2, mode="lexical")] == ["zh1"]
    assert [h.id for h in idx.search("北京的大学", top_k=1, mode="lexical")] == ["zh1"]
    assert idx.search("the of and", top_k=3, mode="lexical") == []  # nothing but stop words


def test_hybrid_fuses_both_stages_and_needs_the_query_text(idx):
    hits = idx.search("cooking bread item7", top_k=5, mode="hybrid")
    assert hits[0].id == "d7" and hits[0].stages == ["dense", "lexical"]
    assert all(h.stages for h in hits) and len({h.id for h in hits}) == 5
    qv = idx.encode_queries(["cooking bread item7"])
    assert [h.id for h in idx.search(qv, top_k=5, mode="hybrid", texts=["cooking bread item7"])[0]] == \
        [h.id for h in hits]
    with pytest.raises(ValueError, match="needs the query text"):
        idx.search(qv, mode="lexical")
    with pytest.raises(ValueError, match="dense, lexical, hybrid"):
        idx.search("x", mode="sparse")
    with pytest.raises(ValueError, match="search method must be one of exact"):
        idx.search("x", method="lexical")


def test_lexical_follows_adds_deletes_replacements_and_compaction(idx, hash_embedder):
    idx.delete(["d7"])
    assert "d7" not in {h.id for h in idx.search("item7", top_k=5, mode="lexical")}
    idx.add([("d7", "a rewritten text about volcanoes")], on_duplicate="replace")
    assert [h.id for h in idx.search("volcano", top_k=5, mode="lexical")] == ["d7"]
    assert not idx.search("item7", top_k=5, mode="lexical")
    idx.compact()
    reopened = Index.open(idx.root, hash_embedder, verify=True)
    assert [h.id for h in reopened.search("volcano", top_k=5, mode="lexical")] == ["d7"]
    assert reopened.lexical().rows_of(reopened.manifest.segments[0].name) == reopened.num_chunks


def test_verify_notices_a_lexical_index_that_lost_rows(idx):
    from q3embed.stores import IndexCorruptError

    idx.lexical().write(None, [], "english", drop=[idx.manifest.segments[0].name])
    with pytest.raises(IndexCorruptError, match="lexical index holds 0 rows"):
        Index.open(idx.root, verify=True)


def test_lexical_where_filter(tmp_path, hash_embedder):
    from q3embed.data import Document

    idx = Index.build(tmp_path / "w", [Document("a", "solar energy", {"lang": "en"}),
                                       Document("b", "solar energy panels", {"lang": "de"})], hash_embedder)
    assert [h.id for h in idx.search("solar", mode="lexical", where={"lang": "de"})] == ["b"]
    assert [h.id for h in idx.search("solar", mode="hybrid", where={"lang": "en"})] == ["a"]
