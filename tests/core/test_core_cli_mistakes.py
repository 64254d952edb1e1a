"""Every verb through a table of ordinary user mistakes: one line naming the problem, non-zero, no traceback.

Also: ``--debug`` shows the traceback, a closed stdout (``| head``) ends quietly, and long work
reports progress when stderr is not a terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from q3embed.cli import main

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_embedding_dir, tiny_reranker_dir, tiny_embedder):
    from q3embed.stores import Index

    root = tmp_path_factory.mktemp("mistakes")
    (root / "texts.txt").write_text("first\nsecond\n")
    (root / "empty.txt").write_text("")
    (root / "blank.txt").write_text("first\n\nthird\n   \n")
    (root / "a_file").write_text("not a folder\n")
    (root / "busy").mkdir()
    (root / "busy" / "something").write_text("x")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "Beijing is the capital of China."}\n'
                                       '{"_id": "d2", "text": "Gravity pulls."}\n')
    Index.build(root / "idx", [("d1", "Beijing is the capital."), ("d2", "Gravity pulls.")], tiny_embedder)
    return {"tmp": str(root), "emb": str(tiny_embedding_dir), "rr": str(tiny_reranker_dir), "idx": str(root / "idx"),
            "long": "why " * 9000}


# (argv template, a phrase the one error line must hold). {name} is filled from the `files` fixture.
MISTAKES = [
    # embed
    ("embed --model {emb} {tmp}/missing.txt {tmp}/o.npy", "does not exist"),
    ("embed --model {emb} {tmp}/empty.txt {tmp}/o.npy", "holds no texts"),
    ("embed --model {emb} {tmp}/blank.txt {tmp}/o.npy", "line 2, 4"),
    ("embed --model {emb} {tmp}/texts.txt {tmp}/no/such/folder/o.npy", "does not exist; create it first"),
    ("embed --model {emb} {tmp}/texts.txt {tmp}", "is a directory"),
    ("embed --model {rr} {tmp}/texts.txt {tmp}/o.npy", "expected an embedding model"),
    ("embed --model {emb} --device cuda {tmp}/texts.txt {tmp}/o.npy", "not available"),
    ("embed --model {emb} --device gpu7 {tmp}/texts.txt {tmp}/o.npy", "accepted: cpu, cuda"),
    ("embed --model {emb} --device cuda:99 {tmp}/texts.txt {tmp}/o.npy", "device 'cuda:99'"),
    ("embed --model {emb} --batch-size 0 {tmp}/texts.txt {tmp}/o.npy", "--batch-size must be"),
    ("embed --model {tmp}/no_model {tmp}/texts.txt {tmp}/o.npy", "no_model"),
    ("embed --model {emb} {tmp}/texts.txt", "required: output"),
    # rerank
    ("rerank --model {rr} --query q --top-n -2 {tmp}/texts.txt", "--top-n must be a whole number >= 1"),
    ("rerank --model {rr} --query q --top-n 0 {tmp}/texts.txt", "--top-n must be"),
    ("rerank --model {rr} --query '' {tmp}/texts.txt", "--query is empty"),
    ("rerank --model {rr} --query q {tmp}/empty.txt", "holds no documents"),
    ("rerank --model {rr} --query q {tmp}/blank.txt", "blank text on line 2, 4"),
    ("rerank --model {emb} --query q {tmp}/texts.txt", "expected a Qwen3-Reranker"),
    ("rerank --model {rr} --max-length 128 --query {long} {tmp}/texts.txt", "no document text"),
    ("rerank --model {rr} --query q --top-n many {tmp}/texts.txt", "invalid int value"),
    # search
    ("search {tmp}/no.idx hello", "no.idx"),
    ("search {idx} hello --top-k 0", "--top-k"),
    ("search {idx} ''", "the query is empty"),
    ("search {idx} hello --device cuda", "not available"),
    ("search {idx} hello --reranker {emb}", "expected a Qwen3-Reranker"),
    # index
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {tmp}/a_file", "is a file"),
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {tmp}/a_file/sub", "is a file"),
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {idx}", "--resume"),
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {tmp}/busy", "--resume"),
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {tmp}/new.idx --dtype int8", "--storage-dtype int8"),
    ("index build --model {emb} --corpus {tmp}/nothing.jsonl --out {tmp}/new.idx", "corpus not found"),
    ("index build --model {emb} --corpus {tmp}/empty.txt --out {tmp}/new.idx", "corpus is empty"),
    ("index build --model {rr} --corpus {tmp}/corpus.jsonl --out {tmp}/new.idx", "expected an embedding model"),
    ("index build --model {emb} --corpus {tmp}/corpus.jsonl --out {tmp}/new2.idx --device cuda", "not available"),
    ("index add {tmp}/no.idx {tmp}/corpus.jsonl", "no.idx"),
    ("index info {tmp}/no.idx", "no.idx"),
    ("index delete {idx} nope", "nope"),
    ("index to-qdrant {idx} --collection c --url http://127.0.0.1:9", "no Qdrant server answers"),
    # info, serve
    ("info {tmp}/no_model", "no_model"),
    ("info {emb} --device cuda", "not available"),
    ("serve --model {emb} --port 99999", "--port 99999 is out of range"),
    ("serve", "give --model"),
    # eval
    ("eval --model {emb}", "--task and --data are required"),
    ("eval --model {emb} --task retrieval --data {tmp}/nothing", "nothing"),
    ("eval --model {emb} --task sts --data {tmp}/empty.txt", "empty.txt"),
    ("eval --model {emb} --task retrieval --data {tmp} --top-k 0", "--top-k must be"),
    # filter, mine, synth, train, merge, pipeline, demo
    ("filter --model {emb} --in {tmp}/missing.jsonl --out {tmp}/kept.jsonl", "missing.jsonl"),
    ("filter --model {emb} --in {tmp}/corpus.jsonl --out {tmp}/a_file/kept.jsonl", "is a file"),
    ("eval --model {emb} --task retrieval --data {tmp} --output {tmp}/a_file/r.json", "is a file"),
    ("mine --model {emb} --corpus {tmp}/nothing.jsonl --queries {tmp}/q.jsonl --qrels {tmp}/q.tsv --out {tmp}/m.jsonl",
     "nothing.jsonl"),
    ("mine --model {emb} --corpus {tmp}/corpus.jsonl --queries {tmp}/q.jsonl --qrels {tmp}/q.tsv "
     "--out {tmp}/a_file/m.jsonl", "is a file"),
    ("synth --llm-base-url http://127.0.0.1:9/v1 --llm-model m --corpus {tmp}/nothing.txt --out {tmp}/s.jsonl",
     "nothing.txt"),
    ("train embed --config {tmp}/nothing.yaml", "nothing.yaml"),
    ("train", "choose what to train"),
    ("merge {tmp}/no_a {tmp}/no_b --out {tmp}/merged", "no_a"),
    ("merge --method slerp --t 2 {emb} {emb} --out {tmp}/merged", "[0"),
    ("pipeline run {tmp}/nothing.yaml", "nothing.yaml"),
    ("demo --top-k 0", "--top-k must be"),
    ("demo --query ''", "--query is empty"),
    ("data fetch nosuchset --out {tmp}/data", "nosuchset"),
    ("tiny --out {tmp}/a_file", "is a file"),
    ("tiny --out {tmp}/t --shape huge", "accepted: tiny"),
    ("nosuchverb", "invalid choice"),
]


def _argv(template: str, files: dict) -> list[str]:
    import shlex

    return [a.format(**files) for a in shlex.split(template)]


def _cases():
    """The table as pytest params; `--device cuda` mistakes only where CUDA is absent (as on CI)."""
    import torch

    for template, phrase in MISTAKES:
        cuda_case = "--device cuda" in template and "cuda:" not in template
        yield pytest.param(template, phrase, id=template.split(" {")[0][:40],
                           marks=pytest.mark.skipif(cuda_case and torch.cuda.is_available(), reason="CUDA is here"))


@pytest.mark.parametrize("template,phrase", list(_cases()))
def test_mistake_gives_one_line(template, phrase, files, capsys):
    try:
        rc = main(_argv(template, files))
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc not in (0, None), f"exit 0 for a mistake; stderr: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert phrase in lines[0], lines[0]
    assert lines[0].startswith("q3embed"), lines[0]


def test_every_verb_is_in_the_table():
    from q3embed.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "verb")
    tried = {m[0].split()[0] for m in MISTAKES}
    assert set(sub.choices) <= tried, f"verbs with no mistake in the table: {set(sub.choices) - tried}"


def test_debug_shows_the_traceback(files, capsys, monkeypatch):
    argv = _argv("embed --model {emb} {tmp}/missing.txt {tmp}/o.npy", files)
    with pytest.raises(Exception, match="does not exist"):
        main(["--debug", *argv])
    monkeypatch.setenv("Q3EMBED_DEBUG", "1")
    with pytest.raises(Exception, match="does not exist"):
        main(argv)


def test_unexpected_error_is_one_line_pointing_at_debug(monkeypatch, capsys, files):
    import q3embed.cli.info as info

    def broken(args):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(info, "run", broken)
    assert main(["info", files["emb"]]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "RuntimeError: something inside broke" in err and "--debug" in err


def test_closed_pipe_ends_quietly(files):
    """`q3embed index info IDX | head -1`: the reader goes away; no BrokenPipeError traceback."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    code = ("import sys, time; from q3embed.cli import main; "
            "sys.stdout.write = (lambda w: (lambda s: (time.sleep(0.01), w(s * 50))[1]))(sys.stdout.write); "
            "sys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", code, "index", "info", files["idx"]],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.read(10)  # like `head`: read a little, then go away
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert p.returncode != 0


def test_wrong_kind_refused_before_weights_load(files):
    """Reranker.load refuses embedding checkpoints everywhere; the CLI's embedding verbs refuse rerankers.

    The library's Embedder.load still accepts a causal LM: embedding training may start from a base LLM.
    """
    from q3embed.cli._common import load_embedder
    from q3embed.engine import Embedder, Reranker
    from q3embed.errors import CheckpointError

    with pytest.raises(CheckpointError, match="expected a Qwen3-Reranker"):
        Reranker.load(files["emb"])
    with pytest.raises(CheckpointError, match="expected an embedding model"):
        load_embedder(files["rr"])
    assert Embedder.load(files["rr"]).width == 64
