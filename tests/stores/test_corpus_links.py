"""A symlink in a corpus folder that leads out of the folder is not indexed unless asked for
(--follow-links), and the build says which links it skipped."""

import json

import pytest

from q3embed.cli import main
from q3embed.data import read_corpus


@pytest.fixture
def folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd.txt").write_text("root:x:0:0:secret")
    (outside / "shard.jsonl").write_text('{"id": "s", "text": "secret shard"}\n')
    cf = tmp_path / "cf"
    cf.mkdir()
    (cf / "notes.txt").write_text("Rain falls from clouds.")
    (cf / "passwd.txt").symlink_to(outside / "passwd.txt")
    (cf / "alias.md").symlink_to(cf / "notes.txt")  # a link that stays inside is an ordinary file
    (cf / "part.jsonl").write_text('{"id": "p", "text": "in the folder"}\n')
    (cf / "shard.jsonl").symlink_to(outside / "shard.jsonl")
    return cf


def test_read_corpus_skips_links_that_leave_the_folder(folder):
    from q3embed.data.corpus import links_leaving

    assert sorted(d.id for d in read_corpus(folder)) == ["alias.md", "notes.txt"]
    assert sorted(d.id for d in read_corpus(folder, follow_links=True)) == ["alias.md", "notes.txt", "passwd.txt"]
    assert [(link.name, target.parent.name) for link, target in links_leaving(folder)] == [("passwd.txt", "outside")]


def test_ray_shards_skip_links_that_leave_the_folder(folder):
    from q3embed.distributed.corpus_files import corpus_files

    (folder / "notes.txt").unlink()
    assert [f.rsplit("/", 1)[1] for f in corpus_files(folder)[1]] == ["part.jsonl"]
    assert len(corpus_files(folder, follow_links=True)[1]) == 2


def test_index_build_skips_them_says_so_and_follows_on_request(folder, tmp_path, tiny_embedding_dir, capsys):
    (folder / "shard.jsonl").unlink()  # the text corpus reads .txt/.md; keep the summary to one link
    build = ["index", "build", "--model", str(tiny_embedding_dir), "--corpus", str(folder)]
    assert main([*build, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert f"skipped 1 symlink leading out of {folder}: passwd.txt -> " in err and "--follow-links" in err, err
    assert main(["index", "info", str(tmp_path / "a"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 2
    assert main(["search", str(tmp_path / "a"), "secret", "--json"]) == 0
    assert "passwd" not in capsys.readouterr().out

    assert main([*build, "--out", str(tmp_path / "b"), "--follow-links"]) == 0
    assert "read 1 symlink leading out of" in capsys.readouterr().err
    assert main(["index", "info", str(tmp_path / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"] == 3


def test_media_folders_skip_links_that_leave_the_folder(tmp_path):
    """An image or PDF linked from outside is not indexed (nor served as a thumbnail) unless asked for."""
    from PIL import Image

    from q3embed.data.corpus import links_leaving
    from q3embed.data.pages import read_media_corpus

    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(outside / "private.png")
    cf = tmp_path / "pics"
    cf.mkdir()
    Image.new("RGB", (8, 8)).save(cf / "own.png")
    (cf / "private.png").symlink_to(outside / "private.png")
    assert [d.id for d in read_media_corpus(cf)] == ["own.png"]
    assert [d.id for d in read_media_corpus(cf, follow_links=True)] == ["own.png", "private.png"]
    assert [link.name for link, _ in links_leaving(cf)] == ["private.png"]  # what the build summary names
