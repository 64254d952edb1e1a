"""Every code block of README.md and docs/*.md (found when the tests run, so a new page is covered)
either runs or carries a visible marker saying why it cannot run here:

    <!-- not-run: needs the Hugging Face hub -->
    ```bash
    ...

The default run checks every block cheaply: Python blocks compile, and every `q3embed ...` line of a
shell block parses with the real CLI parser (a renamed verb or flag fails here). The slow run
(`-m slow`) executes each Python block not marked, in a fresh interpreter in a temporary folder,
with the official checkpoint names mapped to offline ones (MiniLM for the embedding model, the
tiny random Qwen3-Reranker).
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = ("python", "bash", "sh", "console", "shell")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!--\s*not-run:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    not_run: str | None  # the reason given by a marker on the line before the block, or None

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def doc_blocks() -> list[Block]:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    out = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            lang = m.group(1).lower()
            if lang not in RUNNABLE:
                continue  # text, JSON, tables drawn in a fence: nothing to run
            before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = _MARK.search(before)
            out.append(Block(page.relative_to(REPO).as_posix(), text[: m.start()].count("\n") + 1,
                             "python" if lang == "python" else "bash", m.group(2), mark.group(1) if mark else None))
    return out


BLOCKS = doc_blocks()


def synopsis(line: str) -> str:
    """A usage line as the command it shows first: ``[optional]`` parts dropped, ``(a | b)`` -> ``a``."""
    while (cut := re.sub(r"\[[^\[\]]*\]", "", line)) != line:
        line = cut
    return re.sub(r"\(([^()|]*)\|[^()]*\)", r"\1", line)


def q3embed_commands(code: str) -> list[list[str]]:
    """The argv of every `q3embed ...` command in a shell block (continuations joined, comments and
    pipes/&&/; split off, usage brackets resolved by ``synopsis``)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    commands = []
    for line in map(synopsis, joined.splitlines()):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # an unbalanced quote in a prose-like line: not a command
            continue
        part: list[str] = []
        for w in [*words, ";"]:
            if w in (";", "&&", "||", "|", "&"):
                if part and Path(part[0]).name == "q3embed":
                    commands.append(part[1:])
                part = []
            else:
                part.append(w)
    return commands


def test_every_block_is_found_and_every_marker_says_why():
    assert len({b.page for b in BLOCKS}) >= 5 and len(BLOCKS) >= 30
    for b in BLOCKS:
        assert b.not_run is None or len(b.not_run) >= 10, f"{b.name}: a not-run marker must give its reason"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python"], ids=lambda b: b.name)
def test_python_blocks_compile(block):
    ast.parse(block.code, filename=block.name)


def test_every_q3embed_command_parses():
    from q3embed.cli import build_parser

    parser = build_parser()
    bad = []
    for b in BLOCKS:
        if b.lang != "bash":
            continue
        for argv in q3embed_commands(b.code):
            if not argv or "--help" in argv or "-h" in argv or "--version" in argv:
                continue
            elided = "..." in argv  # `q3embed synth --llm-model M ...`: the rest left out on purpose
            try:
                parser.parse_args([a for a in argv if a != "..."])
            except SystemExit:
                if not elided:
                    bad.append(f"{b.name}: q3embed {shlex.join(argv)}")
    assert not bad, "commands the CLI does not accept:\n" + "\n".join(bad)




@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang == "python" and b.not_run is None],
                         ids=lambda b: b.name)
def test_python_blocks_run(block, tmp_path, minilm_dir, tiny_reranker_dir):
    # The hub's checkpoints, offline: MiniLM (384 wide, so the docs' MRL dims fit) and the tiny Qwen3-Reranker.
    code = block.code.replace("Qwen/Qwen3-Embedding-0.6B", str(minilm_dir))
    code = code.replace("Qwen/Qwen3-Reranker-0.6B", str(tiny_reranker_dir))
    script = tmp_path / "snippet.py"
    script.write_text(code)
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, f"{block.name} failed:\n{run.stderr[-3000:]}"


# Shell walkthroughs that need nothing but the package: each runs as written, in a fresh folder, in the
# slow run. (first line of the block, page) -- the other shell blocks need the hub, a server, a GPU or
# the reader's own files, and are parse-checked above.
WALKTHROUGHS = [("README.md", "q3embed tiny --out tiny "),
                ("docs/multimodal.md", "q3embed tiny --family vl --out tiny-vl\nmkdir")]


def _walkthrough(page: str, start: str) -> Block:
    found = [b for b in BLOCKS if b.page == page and b.lang == "bash" and b.code.startswith(start)]
    assert len(found) == 1, f"{page}: no single shell block starts with {start!r}"
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("page,start", WALKTHROUGHS, ids=[w[0] for w in WALKTHROUGHS])
def test_shell_walkthroughs_run_as_written(page, start, tmp_path):
    import os

    block = _walkthrough(page, start)
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # the q3embed script
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", block.code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=1200, env=env)
    assert run.returncode == 0, f"{block.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    assert "query:" in run.stdout  # each walkthrough ends in a search that prints its hits


def test_walkthroughs_are_found():
    for page, start in WALKTHROUGHS:
        _walkthrough(page, start)


def test_counts(capsys):
    """How many blocks run and how many are marked not runnable (printed with -s)."""
    python = [b for b in BLOCKS if b.lang == "python"]
    shell = [b for b in BLOCKS if b.lang == "bash"]
    marked = [b for b in BLOCKS if b.not_run]
    print(f"doc blocks: {len(BLOCKS)} ({len(python)} Python, {len(shell)} shell); marked not-run: {len(marked)}; "
          f"Python run in the slow test: {len(python) - sum(1 for b in python if b.not_run)}; "
          f"q3embed commands parsed: {sum(len(q3embed_commands(b.code)) for b in shell)}")
