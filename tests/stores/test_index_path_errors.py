"""Pointing a verb at the wrong kind of path for an index gives one line that says what is there:
a file where the index directory belongs, an image query against a text-model index."""

import pytest
from PIL import Image

from q3embed.cli import main


@pytest.fixture(scope="module")
def text_index(tmp_path_factory, tiny_embedding_dir):
    root = tmp_path_factory.mktemp("text_index")
    (root / "docs.txt").write_text("Beijing is the capital of China.\nGravity pulls.\n")
    assert main(["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(root / "docs.txt"),
                 "--out", str(root / "idx"), "--device", "cpu"]) == 0
    return root


@pytest.mark.parametrize("argv", [
    ["search", "{f}", "capital"],
    ["index", "info", "{f}"],
    ["index", "delete", "{f}", "L1"],
])
def test_a_file_where_an_index_is_expected(argv, text_index, capsys):
    f = text_index / "docs.txt"
    capsys.readouterr()
    assert main([a.format(f=f) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no index at {f}: it is a file" in err, err


def test_an_image_query_on_a_text_index_is_one_line(text_index, tmp_path, capsys):
    Image.new("RGB", (64, 48), (200, 30, 30)).save(tmp_path / "red.png")
    capsys.readouterr()
    assert main(["search", str(text_index / "idx"), "--image", str(tmp_path / "red.png")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--image needs an index built with a Qwen3-VL model" in err, err
    assert "MediaInput" not in err


def test_a_binary_dim_over_the_model_width_leaves_out_free(text_index, tmp_path, tiny_embedding_dir, capsys):
    out = tmp_path / "b.idx"
    argv = ["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(text_index / "docs.txt"),
            "--out", str(out), "--device", "cpu"]
    capsys.readouterr()
    assert main(argv + ["--binary-dim", "128"]) == 1  # the tiny model is 64 wide
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--binary-dim" in err and "64" in err, err
    assert main(argv + ["--binary-dim", "64"]) == 0  # the corrected command is not told --out is taken


def test_a_dim_over_the_model_width_leaves_out_free(text_index, tmp_path, tiny_embedding_dir, capsys):
    out = tmp_path / "d.idx"
    argv = ["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(text_index / "docs.txt"),
            "--out", str(out), "--device", "cpu"]
    capsys.readouterr()
    assert main(argv + ["--dim", "128"]) == 1  # the tiny model is 64 wide
    assert "32..64" in capsys.readouterr().err
    assert main(argv + ["--dim", "32"]) == 0
