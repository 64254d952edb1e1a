"""What `q3embed index ...` prints speaks shell, not Python: flags, commands and English counts."""

import pytest

from q3embed.cli import main

qdrant_client = pytest.importorskip("qdrant_client")


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "docs.txt"
    p.write_text("Paris is the capital of France.\nRain falls from clouds.\n")
    return p


def test_build_delete_and_to_qdrant_messages(tmp_path, corpus, tiny_embedding_dir, capsys):
    idx = tmp_path / "idx"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--out", str(idx)]) == 0
    err = capsys.readouterr().err
    built = [line for line in err.splitlines() if line.startswith("built ")]
    assert built == [f"built {idx}: 2 documents (2 chunks); model {str(tiny_embedding_dir)!r}, dim 64, float32, "
                     "no chunking"], err
    assert main(["index", "delete", str(idx), "L1"]) == 0
    assert "deleted 1 document; " in capsys.readouterr().err

    qpath = tmp_path / "qd"
    copy = ["index", "to-qdrant", str(idx), "--collection", "c", "--path", str(qpath)]
    assert main(copy) == 0
    assert "copied 1 document (1 chunk)" in capsys.readouterr().err
    assert main(copy) == 1
    err = capsys.readouterr().err
    assert "pass --overwrite to replace it" in err and "overwrite=True" not in err, err
    assert main([*copy, "--overwrite"]) == 0


def test_build_into_a_qdrant_url_names_the_collection(tmp_path, corpus, tiny_embedding_dir, capsys):
    url = f"qdrant://{tmp_path / 'qd'}?collection=docs"
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(corpus), "--store", url]) == 0
    err = capsys.readouterr().err
    assert "built Qdrant collection 'docs' at " in err and ": 2 documents;" in err, err
    assert " object at 0x" not in err


def test_to_qdrant_help_names_the_search_command(capsys):
    with pytest.raises(SystemExit):
        main(["index", "to-qdrant", "--help"])
    out = capsys.readouterr().out
    assert "q3embed search" in out and "QdrantIndex" not in out
