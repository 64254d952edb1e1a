"""`index build --resume` continues only the corpus the build started from; another one is refused,
naming both (a 4,000-document build resumed with a 600-document file used to end with 600)."""

import json

import pytest

from q3embed.stores import Index, IndexMismatchError


def _corpus(path, n, start=0):
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document {i} about topic {i % 5}"}) + "\n"
                            for i in range(start, start + n)))
    return path


def _interrupted(root, corpus, embedder):
    index = Index.build(root, corpus, embedder)
    index.set_building(True)  # as a kill -9 before the last commit leaves it
    return index


def test_resume_with_another_corpus_is_refused_naming_both(tmp_path, hash_embedder):
    big, small = _corpus(tmp_path / "big.jsonl", 40), _corpus(tmp_path / "small.jsonl", 6)
    _interrupted(tmp_path / "idx", big, hash_embedder)
    with pytest.raises(IndexMismatchError) as e:
        Index.build(tmp_path / "idx", small, hash_embedder, resume=True)
    assert "big.jsonl (40 documents" in str(e.value) and "small.jsonl (6 documents" in str(e.value)
    assert "--overwrite" in str(e.value)
    edited = _corpus(tmp_path / "big.jsonl", 40, start=1)  # same path, other content
    with pytest.raises(IndexMismatchError, match="cannot resume"):
        Index.build(tmp_path / "idx", edited, hash_embedder, resume=True)
    _corpus(tmp_path / "big.jsonl", 40)
    index = Index.build(tmp_path / "idx", big, hash_embedder, resume=True)
    assert len(index) == 40 and not index.interrupted
    assert len(Index.build(tmp_path / "idx", small, hash_embedder, overwrite=True)) == 6


def test_the_cli_says_it_in_one_line(tmp_path, hash_embedder, tiny_embedding_dir, capsys):
    from q3embed.cli import main

    big, small = _corpus(tmp_path / "big.jsonl", 12), _corpus(tmp_path / "small.jsonl", 3)
    build = ["index", "build", "--model", str(tiny_embedding_dir), "--out", str(tmp_path / "idx")]
    assert main([*build, "--corpus", str(big)]) == 0
    Index.open(tmp_path / "idx").set_building(True)
    capsys.readouterr()
    assert main([*build, "--corpus", str(small), "--resume"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot resume" in err and "small.jsonl (3 documents" in err, err
