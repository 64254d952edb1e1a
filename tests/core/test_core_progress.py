"""Long work reports progress when stderr is not a terminal: periodic lines with done/total, rate, ETA."""

from __future__ import annotations

import io
import logging
import time
from datetime import timedelta

import pytest

import q3embed.progress as progress
from q3embed.cli import main


@pytest.fixture
def every_update(monkeypatch):
    """A progress line at every bar refresh instead of every 10 s."""
    monkeypatch.setattr(progress, "LOG_EVERY", timedelta(0))


@pytest.fixture
def slow_encode(monkeypatch):
    """Make each embedding call take longer than tqdm's refresh interval (0.1 s), as real models do."""
    from q3embed.engine import Embedder

    real = Embedder.encode

    def encode(self, *args, **kwargs):
        time.sleep(0.15)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Embedder, "encode", encode)


def test_off_a_terminal_the_bar_logs_lines(every_update, caplog):
    stream = io.StringIO()  # not a terminal
    with caplog.at_level(logging.INFO, logger=progress.PROGRESS_LOGGER):
        for _ in progress.tqdm(range(3), desc="indexing", unit="chunk", file=stream, mininterval=0):
            time.sleep(0.01)
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all(m.startswith("Progress on:indexing") for m in lines)
    assert " 3/3 chunk " in lines[-1] and "rate:" in lines[-1] and "remaining:" in lines[-1]
    assert not any("postfix" in m or ".00" in m for m in lines), lines  # whole counts, no empty postfix
    assert stream.getvalue() == ""  # no \r bar written into a log file


def test_short_work_stays_quiet(caplog):
    with caplog.at_level(logging.INFO, logger=progress.PROGRESS_LOGGER):
        for _ in progress.tqdm(range(3), desc="quick", file=io.StringIO()):
            pass
    assert caplog.records == []


def test_on_a_terminal_it_is_a_live_bar():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    for _ in progress.tqdm(range(3), desc="live", file=stream, mininterval=0):
        pass
    assert "\r" in stream.getvalue() and "live" in stream.getvalue()


def test_index_build_prints_progress_off_a_terminal(tmp_path, tiny_embedding_dir, every_update, slow_encode, capsys,
                                                    monkeypatch):
    import q3embed.stores.ingest as ingest

    monkeypatch.setattr(ingest, "ENCODE_STEP", 8)  # several bar updates for a 40-document corpus
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"document number {i} about topic {i % 7}\n" for i in range(40)))
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus),
                 "--out", str(tmp_path / "kb.idx"), "--batch-size", "8"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("Progress on:indexing")]
    assert lines and "/40 chunk" in lines[-1] and "rate:" in lines[-1], err


def test_eval_prints_progress_off_a_terminal(tmp_path, tiny_embedding_dir, every_update, slow_encode, capsys):
    import json

    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "text": f"passage {i}"}) + "\n"
                                               for i in range(30)))
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "passage 3"}\n')
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\n")
    assert main(["eval", "--model", str(tiny_embedding_dir), "--task", "retrieval", "--data", str(root),
                 "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "r.json")]) == 0
    err = capsys.readouterr().err
    assert any(ln.startswith("Progress on:embedding") and "/30 text" in ln for ln in err.splitlines()), err


def test_a_bar_left_by_ctrl_c_prints_no_line_after_it(every_update):
    """A training loop interrupted mid-way never closes its bar; collecting it must not log a line
    (it would print after the CLI's "interrupted")."""
    import gc

    def train():
        bar = progress.tqdm(total=28, desc="train", unit="step", file=io.StringIO(), mininterval=0)
        for _ in range(4):
            bar.update(1)
            time.sleep(0.01)
        raise KeyboardInterrupt

    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    log = logging.getLogger(progress.PROGRESS_LOGGER)  # the CLI may have stopped its propagation
    log.addHandler(handler)
    old_level, log.level = log.level, logging.INFO
    try:
        with pytest.raises(KeyboardInterrupt):
            train()
        assert lines and " 4/28 step " in lines[-1], lines
        before = len(lines)
        gc.collect()
        assert len(lines) == before, lines[-1]
    finally:
        log.removeHandler(handler)
        log.level = old_level
