"""Arguments shared by several verbs."""

from __future__ import annotations

import argparse


def add_model_args(p: argparse.ArgumentParser, flag: str = "--model", required: bool = True) -> None:
    p.add_argument(flag, required=required, help="checkpoint directory or hub name (e.g. Qwen/Qwen3-Embedding-0.6B)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16, float16 or auto (default: bf16 on GPU; on CPU the checkpoint's own bf16 where the CPU has native bf16, else fp32)")
    p.add_argument("--max-length", type=int, default=None, help="token limit per input (default 8192 for Qwen3)")
    p.add_argument("--quantize", default=None, choices=["int8"],
                   help="opt-in int8 dynamic quantisation of the linear layers (needs torchao; quality cost in bench/RESULTS.md)")


def add_verb(sub, name: str, func, help: str, description: str | None = None) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help, description=description or help,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=func)
    return p
