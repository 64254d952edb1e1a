from __future__ import annotations

from ._common import add_model_args, add_verb


def register(sub) -> None:
    p = add_verb(sub, "embed", run, "embed texts from a .txt/.jsonl file into a .npy matrix",
                 "Embed INPUT (.txt: one text per line; .jsonl: a 'text' field) and save float32 vectors to OUTPUT.npy.\n"
                 "With --instruction the texts are queries (Instruct: ...\\nQuery:...); without, documents.")
    add_model_args(p)
    p.add_argument("--instruction", default=None, help="task instruction; makes the texts queries")
    p.add_argument("--dim", type=int, default=None, help="MRL output dimension (32..model width)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("input", help="input .txt or .jsonl")
    p.add_argument("output", help="output .npy path")


def run(args) -> int:
    import sys

    import numpy as np

    from ..engine import Embedder
    from ..data.jsonl import read_texts

    texts = read_texts(args.input)
    emb = Embedder.load(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    vecs = emb.encode(texts, instruction=args.instruction, dim=args.dim, batch_size=args.batch_size,
                      show_progress=len(texts) > 64)
    np.save(args.output, vecs)
    print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} float32 vectors to {args.output}", file=sys.stderr)
    return 0
