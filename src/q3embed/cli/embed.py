from __future__ import annotations

from ._common import add_model_args, add_verb, check_output_file, check_positive, load_embedder


def register(sub) -> None:
    p = add_verb(sub, "embed", run, "embed texts from a .txt/.jsonl file into a .npy matrix",
                 "Embed INPUT (.txt: one text per line; .jsonl: a 'text' field) and save float32 vectors to OUTPUT\n"
                 "(.npy is appended when OUTPUT lacks it). Row i of the matrix is text i; blank lines are refused.\n"
                 "With --instruction the texts are queries (Instruct: ...\\nQuery:...); without, documents.")
    add_model_args(p)
    p.add_argument("--instruction", default=None, help="task instruction; makes the texts queries")
    p.add_argument("--dim", type=int, default=None, help="MRL output dimension (32..model width)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("input", help="input .txt or .jsonl")
    p.add_argument("output", help="output .npy path")


def npy_path(output: str):
    """Where ``np.save(output)`` writes: it appends .npy to any other name."""
    from pathlib import Path

    out = Path(output)
    return out if out.suffix == ".npy" else out.with_name(out.name + ".npy")


def run(args) -> int:
    import sys

    import numpy as np

    from ..data.jsonl import read_texts

    check_positive("--batch-size", args.batch_size)
    check_output_file(args.output, "OUTPUT")
    out = check_output_file(npy_path(args.output), "OUTPUT")
    texts = read_texts(args.input, blank="refuse")
    if not texts:
        raise ValueError(f"{args.input} holds no texts; expected one text per line (.txt) or a 'text' field (.jsonl)")
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    vecs = emb.encode(texts, instruction=args.instruction, dim=args.dim, batch_size=args.batch_size,
                      show_progress=len(texts) > 64)
    np.save(out, vecs)
    print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} float32 vectors to {out}", file=sys.stderr)
    return 0
