"""Arguments and checks shared by several verbs.

The checks run before any model loads: a typo in an output path should cost a second, not the
minutes a large checkpoint takes to load.
"""

from __future__ import annotations

import argparse
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error (the full usage is one ``--help`` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_model_args(p: argparse.ArgumentParser, flag: str = "--model", required: bool = True) -> None:
    p.add_argument(flag, required=required, help="checkpoint directory or hub name (e.g. Qwen/Qwen3-Embedding-0.6B)")
    add_compute_args(p)
    p.add_argument("--max-length", type=int, default=None, help="token limit per input (default 8192 for Qwen3)")
    p.add_argument("--quantize", default=None, choices=["int8"],
                   help="opt-in int8 dynamic quantisation of the linear layers (needs torchao; quality cost in docs/benchmarks.md)")


DTYPE_HELP = ("compute dtype: float32, bfloat16, float16 or auto (default: bf16 on GPU; on CPU the checkpoint's own "
              "bf16 where the CPU has native bf16, else fp32)")


def add_compute_args(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--dtype``: where and in which precision the model runs, on every verb."""
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--dtype", default=None, help=DTYPE_HELP)


def config_from_flags(cls, flags: dict[str, str], **values):
    """``cls(**values)`` (a ``q3embed.schema`` config) whose error names the flag the user typed
    (``--per-passage must be >= 1, got 0``), not the config key; ``flags`` maps key -> flag."""
    import re

    from ..errors import ConfigError

    try:
        return cls(**values)
    except ConfigError as e:
        # A key as a word of its own (not inside quotes: "'n' is not known"); a list index goes with it,
        # since a comma-list flag is one string to the user.
        keys = "|".join(map(re.escape, sorted(flags, key=len, reverse=True)))
        raise type(e)(re.sub(rf"(?<![\w'-])({keys})(\[\d+\])?(?![\w'])", lambda m: flags[m.group(1)], str(e))) from None


def add_verb(sub, name: str, func, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description or help,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p


def check_positive(flag: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ValueError(f"{flag} must be a whole number >= 1, got {value}")


def check_text(flag: str, value: str) -> None:
    if not value or not value.strip():
        raise ValueError(f"{flag} is empty; expected some text")


def check_input_path(path: str | Path | None, flag: str, expected: str | None = None,
                     suffixes: tuple[str, ...] = ()) -> None:
    """An input given on the command line exists: checked before work, not when it is first read.

    ``expected`` (e.g. "a .jsonl file of pairs") makes it a file: a folder is refused, in the words
    every file reader uses (``errors.not_a_file``), naming the files in it that would fit.
    """
    from ..errors import not_a_file

    if not path:
        return
    p = Path(path).expanduser()
    if not p.exists() or (expected is not None and p.is_dir()):
        raise ValueError(not_a_file(p, flag, expected or "an existing file or folder", suffixes))


def check_output_file(path: str | Path, flag: str) -> Path:
    """An output file can be written: its folder exists, and the path is not a folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; expected a file path")
    if not path.parent.exists():
        raise ValueError(f"{flag} {path}: the folder {path.parent} does not exist; create it first")
    if not path.parent.is_dir():
        raise ValueError(f"{flag} {path}: {path.parent} is a file, not a folder")
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """An output directory can be created: the path is not a file and sits under no file."""
    path = Path(path).expanduser()
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise ValueError(f"{flag} {path}: {p} is a file; expected a directory path")
    return path


def plural(n: int, noun: str) -> str:
    """``1 document``, ``2 documents``: counts printed to a user read as English."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def shorten(text: str, limit: int = 80) -> str:
    """One line, at most ``limit`` characters, for echoing user text back."""
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(text):,} chars)"


def load_embedder(name: str, **kwargs):
    """``Embedder.load``, refusing a Qwen3-Reranker first (the CLI's verbs embed with embedding models).

    The library leaves this to its caller: training an embedding model may start from a base
    causal LM, which is laid out like a reranker.
    """
    from ..engine import Embedder
    from ..model.layout import read_layout
    from ..model.resolve import resolve_model_path

    read_layout(resolve_model_path(name)).require("embedding")
    return Embedder.load(name, **kwargs)
