"""A folder given where a file is expected is called a folder, with the file that is expected;
a folder of checkpoints given as a model names the checkpoints in it."""

import pytest

from q3embed.cli import main


@pytest.mark.parametrize("argv, words", [
    (["train", "embed", "--config", "{d}"], "config file {d} is a folder; expected a YAML file (.yaml); it holds run.yaml"),
    (["eval", "--task", "sts", "--data", "{d}", "--model", "{emb}"], "STS data {d} is a folder; expected a .csv/.tsv"),
    (["embed", "--model", "{emb}", "{d}", "{d}/o.npy"], "input file {d} is a folder"),
])
def test_a_folder_where_a_file_is_expected(argv, words, tmp_path, tiny_embedding_dir, capsys):
    d = tmp_path / "toy"
    d.mkdir()
    (d / "run.yaml").write_text("")
    assert main([a.format(d=d, emb=tiny_embedding_dir) for a in argv]) != 0
    err = capsys.readouterr().err
    assert words.format(d=d) in err and "does not exist" not in err, err


def test_a_folder_of_checkpoints_names_them(tmp_path, tiny_embedding_dir, capsys):
    import shutil

    shutil.copytree(tiny_embedding_dir, tmp_path / "tiny" / "embedding")
    (tmp_path / "tiny" / "reranker").mkdir()
    (tmp_path / "tiny" / "reranker" / "config.json").write_text("{}")
    assert main(["info", str(tmp_path / "tiny")]) == 1
    err = capsys.readouterr().err
    assert "is a folder of checkpoints" in err and "embedding/, reranker/" in err, err
    assert main(["info", str(tmp_path / "tiny" / "embedding")]) == 0


def test_the_shared_input_check_calls_a_folder_a_folder(tmp_path):
    from q3embed.cli._common import check_input_path

    check_input_path(tmp_path, "--data")  # a folder is a fine input where no file is asked for
    with pytest.raises(ValueError, match=r"--sts-dev .* is a folder; expected a .csv file"):
        check_input_path(tmp_path, "--sts-dev", "a .csv file")
    with pytest.raises(ValueError, match="does not exist"):
        check_input_path(tmp_path / "nope", "--sts-dev", "a .csv file")
