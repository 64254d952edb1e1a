"""``q3embed <verb>``: one module per verb in this package, each with ``register(subparsers)``.

A verb module registers its own parser and sets ``func`` to a function taking the parsed
namespace. Verb modules import torch and friends inside ``func`` only, so ``--help`` is fast.

This module is the CLI's boundary: every exception a verb raises becomes one line on stderr,
``q3embed VERB: error: ...``, and a non-zero exit (:mod:`.boundary`). ``--debug`` (or
``Q3EMBED_DEBUG=1``, read here and nowhere else) shows the traceback instead.

One logging style: library code never prints; it logs through ``logging.getLogger(__name__)``
(so under ``q3embed.``), and progress through :mod:`q3embed.progress`. The CLI is what prints: a
verb's result goes to stdout, and this module routes the ``q3embed`` loggers (INFO and up) and
the progress lines, bare, to stderr. An application that imports q3embed routes them wherever its
own logging goes.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys

from ..runtime.allocator import keep_freed_memory
from ._common import Parser
from .boundary import DEBUG_ENV, exit_on_broken_pipe, report_error


#: the dests of the verbs' own sub-commands (index build, eval report, data fetch, train embed, pipeline run)
SUB_VERB_DESTS = ("index_verb", "eval_mode", "data_action", "train_kind", "action")


def build_parser() -> Parser:
    from .. import __version__

    parser = Parser(
        prog="q3embed",
        description="Qwen3-Embedding and Qwen3-Reranker: embed, rerank, search, serve, train, merge, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"q3embed {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_noisy_loggers()
    _route_progress_to_stderr()
    keep_freed_memory()  # process-wide, so here and not on import (runtime/allocator.py)
    debug = args.debug or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    sub_verb = next((getattr(args, d) for d in SUB_VERB_DESTS if getattr(args, d, None)), None)
    verb = " ".join(v for v in (args.verb, sub_verb) if v)
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a closed pipe (`| head`) shows up here, inside the boundary
    except KeyboardInterrupt:
        print(f"q3embed {verb}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return exit_on_broken_pipe()
    except Exception as e:  # noqa: BLE001 - the boundary: every error becomes one line
        if debug:
            raise
        return report_error(verb, e)
    return int(rc or 0)


def _quiet_noisy_loggers() -> None:
    # transformers imports torchao whenever it is installed (the int8 extra); torchao then logs a
    # warning per optional CUDA library it cannot load, and torch one per enum it registers, on
    # every model load. They say nothing about the user's command, so the CLI keeps them quiet.
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _route_progress_to_stderr() -> None:
    """Off a terminal, progress arrives as log lines (q3embed.progress); print them on stderr.

    The hub's and transformers' own bars (a second of "Loading weights") are not long work: off a
    terminal they would only be ``\r`` noise in the log, so they are switched off there.
    """
    from ..progress import PROGRESS_LOGGER, is_terminal

    if not is_terminal(sys.stderr):
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if "transformers" in sys.modules:  # imported before main() (tests, or an embedding application)
            sys.modules["transformers"].utils.logging.disable_progress_bar()

    for name in (PROGRESS_LOGGER, "q3embed"):  # progress lines, and the package's own log lines
        log = logging.getLogger(name)
        if not any(getattr(h, "_q3embed", False) for h in log.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            handler._q3embed = True
            log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (pytest's capsys swaps it between tests)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


if __name__ == "__main__":
    sys.exit(main())
