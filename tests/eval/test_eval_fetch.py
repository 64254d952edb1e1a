"""q3embed data fetch: hub datasets written in the layouts the evaluators read; offline is one line."""

from __future__ import annotations

import pytest

from q3embed.cli import main
from q3embed.eval.fetch import EVAL_SETS, FetchError, fetch


class FakeHub:
    """datasets.load_dataset over in-memory rows shaped like mteb's hub copies."""

    def __init__(self):
        self.calls = []

    def __call__(self, hub_id, config=None, split=None):
        from datasets import Dataset, DatasetDict

        self.calls.append((hub_id, config, split))
        if hub_id == "mteb/stsbenchmark-sts":
            rows = [{"sentence1": "A, b", "sentence2": "c", "score": 2.5}, {"sentence1": "d", "sentence2": "e", "score": 5.0}]
            return DatasetDict({"test": Dataset.from_list(rows), "validation": Dataset.from_list(rows[:1])})
        if config == "corpus":
            return Dataset.from_list([{"_id": "d1", "title": "Beijing", "text": "Beijing is the capital of China."},
                                      {"_id": "d2", "title": "", "text": "Gravity pulls."}])
        if config == "queries":
            return Dataset.from_list([{"_id": "q1", "text": "capital of China?"}])
        return DatasetDict({"test": Dataset.from_list([{"query-id": "q1", "corpus-id": "d1", "score": 1}])})


def test_fetch_writes_beir_and_sts_layouts_the_evaluators_read(tmp_path):
    from q3embed.eval.beir import load_beir
    from q3embed.eval.sts import load_sts_pairs

    hub = FakeHub()
    scifact = fetch("scifact", tmp_path, load_dataset=hub)
    corpus, queries, qrels = load_beir(scifact, "test")
    assert scifact == tmp_path / "scifact" and (scifact / "qrels" / "test.tsv").exists()
    assert corpus["d1"] == "Beijing Beijing is the capital of China." and queries == {"q1": "capital of China?"}
    assert qrels == {"q1": {"d1": 1}}
    stsb = fetch("stsb", tmp_path, load_dataset=hub)
    s1, s2, gold = load_sts_pairs(stsb / "stsb-en-test.csv")
    assert (stsb / "stsb-en-dev.csv").exists()
    assert s1 == ["A, b", "d"] and s2 == ["c", "e"] and list(gold) == [2.5, 5.0]
    n = len(hub.calls)
    fetch("scifact", tmp_path, load_dataset=hub)  # already there: kept, nothing fetched
    assert len(hub.calls) == n


def test_offline_fetch_is_one_line_and_leaves_nothing(tmp_path, capsys):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'mteb/scifact' on the Hub (LocalEntryNotFoundError)")

    with pytest.raises(FetchError, match="cannot fetch scifact .*Offline"):
        fetch("scifact", tmp_path, load_dataset=offline)
    assert list(tmp_path.iterdir()) == []


def test_data_fetch_cli_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    # The hub libraries read these variables once, at import: an earlier test may already have imported
    # them, and then they would try the network (~20 s of timeouts here) instead of failing at once.
    import sys

    for module, names in (("huggingface_hub.constants", ["HF_HUB_OFFLINE"]),
                          ("datasets.config", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])):
        for name in names:
            if module in sys.modules:
                monkeypatch.setattr(sys.modules[module], name, True)
    assert main(["data", "fetch", "stsb", "--out", str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("q3embed data fetch: error: cannot fetch stsb") and "\n" not in err
    assert not (tmp_path / "data" / "stsb").exists()


def test_data_list_names_every_set(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EVAL_SETS)
