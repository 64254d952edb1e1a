"""Toy training data for the train tests: queries about topics, positives on topic, negatives off topic."""

from __future__ import annotations

import json

import pytest

TOPICS = ["cats", "dogs", "rain", "sun", "music", "chess", "bread", "rivers", "stars", "trains", "apples", "snow"]


def toy_rows(n: int = 24) -> list[dict]:
    rows = []
    for i in range(n):
        t = TOPICS[i % len(TOPICS)]
        rows.append({"query": f"tell me about {t} {i}",
                     "pos": [f"a short passage about {t} number {i}", f"{t} facts, item {i}"],
                     "neg": [f"a passage about {TOPICS[(i + k) % len(TOPICS)]}" for k in (1, 2, 3, 4)]})
    return rows


@pytest.fixture(scope="session")
def toy_train_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("train_data") / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in toy_rows()))
    return path


@pytest.fixture(scope="session")
def train_overrides():
    """overrides(model, out, train_file, *extra) -> the key=value list of a small test run."""
    return _overrides


def _overrides(model, out, train_file, *extra):
    return [f"model={model}", f"output_dir={out}", f"data.train_file={train_file}", "progress=false",
            "data.max_length=32", *extra]


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models run many small ops; on a shared 2-core machine one thread per op is far faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
