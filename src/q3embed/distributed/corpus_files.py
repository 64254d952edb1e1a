"""The corpus as Ray Data sees it: one JSONL or Parquet file, or a folder of such shards read as one corpus."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputFileError

JSONL_SUFFIXES = (".jsonl", ".json")
PARQUET_SUFFIXES = (".parquet",)


def corpus_files(source: str | Path, follow_links: bool = False) -> tuple[str, list[str]]:
    """(format, sorted absolute shard paths); format is ``"jsonl"`` or ``"parquet"``.

    A folder contributes every ``.jsonl``/``.json``/``.parquet`` file below it; mixing formats is refused
    because Ray Data reads one format per dataset. A symlinked shard that leads out of the folder
    is skipped unless ``follow_links``, as ``read_corpus`` skips such files.
    """
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in JSONL_SUFFIXES + PARQUET_SUFFIXES
                       and (follow_links or p.resolve().is_relative_to(path.resolve())))
        if not files:
            raise InputFileError(f"{path}: no corpus shards in this folder (expected .jsonl or .parquet files)")
    elif path.is_file():
        files = [path]
    else:
        raise InputFileError(f"corpus not found: {path} (expected a .jsonl or .parquet file, or a folder of them)")
    kinds = {"parquet" if p.suffix in PARQUET_SUFFIXES else "jsonl" if p.suffix in JSONL_SUFFIXES else p.suffix
             for p in files}
    if len(kinds) > 1:
        raise InputFileError(f"{path}: mixes corpus formats {sorted(kinds)}; put .jsonl and .parquet shards in separate folders")
    kind = kinds.pop()
    if kind not in ("jsonl", "parquet"):
        raise InputFileError(f"{path}: unsupported corpus file '{kind}' for --ray; accepted: .jsonl, .parquet, "
                             "or a folder of them")
    return kind, [str(p.resolve()) for p in files]


def read_dataset(kind: str, files: list[str], blocks: int | None = None):
    """A Ray Dataset of the raw corpus records (columns as in the files: ``_id``/``id``, ``title``, ``text``, ...)."""
    import ray.data

    # Reading is light next to embedding: it takes no CPU slot, or an actor pool that fills the
    # cluster (2 workers on 2 CPUs) would starve its own input and wait forever.
    if kind == "parquet":
        return ray.data.read_parquet(files, num_cpus=0, override_num_blocks=blocks)
    return ray.data.read_json(files, lines=True, num_cpus=0, override_num_blocks=blocks)
