"""``q3embed <verb>``: one module per verb in this package, each with ``register(subparsers)``.

A verb module registers its own parser and sets ``func`` to a function taking the parsed
namespace. Verb modules import torch and friends inside ``func`` only, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from ..errors import Q3EmbedError


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="q3embed",
        description="Qwen3-Embedding and Qwen3-Reranker: embed, rerank, search, serve, train, merge, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"q3embed {__version__}")
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
    # transformers imports torchao whenever it is installed (the int8 extra); torchao then logs a
    # warning per optional CUDA library it cannot load, and torch one per enum it registers, on
    # every model load. They say nothing about the user's command, so the CLI keeps them quiet.
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        rc = args.func(args)
    except (Q3EmbedError, FileNotFoundError, ValueError, TypeError) as e:
        print(f"q3embed {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"q3embed {args.verb}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
