from __future__ import annotations

from ._common import add_model_args, add_verb, check_output_file, check_positive, load_embedder


def register(sub) -> None:
    p = add_verb(sub, "embed", run, "embed texts from a .txt/.jsonl file into a .npy matrix",
                 "Embed INPUT (.txt: one text per line; .jsonl: a 'text' field) and save float32 vectors to OUTPUT\n"
                 "(.npy is appended when OUTPUT lacks it). Row i of the matrix is text i; blank lines are refused.\n"
                 "With --instruction the texts are queries (Instruct: ...\\nQuery:...); without, documents.\n"
                 "With a Qwen3-VL model, INPUT may also be a .jsonl whose rows have 'text' and/or 'image' (a path\n"
                 "relative to the file, or a data: URL), or a folder of images and PDFs: one row per image and\n"
                 "per PDF page, listed in OUTPUT.ids.jsonl (id, file, page).")
    add_model_args(p)
    p.add_argument("--instruction", default=None, help="task instruction; makes the texts queries")
    p.add_argument("--dim", type=int, default=None, help="MRL output dimension (32..model width)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("input", help="input .txt or .jsonl (Qwen3-VL: also a folder of images/PDFs)")
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
    from ..data.pages import is_media_corpus

    if is_media_corpus(args.input):
        return _embed_media(args, out)
    texts = read_texts(args.input, blank="refuse")
    if not texts:
        raise ValueError(f"{args.input} holds no texts; expected one text per line (.txt) or a 'text' field (.jsonl)")
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    vecs = emb.encode(texts, instruction=args.instruction, dim=args.dim, batch_size=args.batch_size,
                      show_progress=len(texts) > 64)
    np.save(out, vecs)
    print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} float32 vectors to {out}", file=sys.stderr)
    return 0


def _embed_media(args, out) -> int:
    """Images, PDF pages and captioned images (data/pages.py) through a Qwen3-VL embedder."""
    import json
    import sys

    import numpy as np

    from ..data.pages import document_input, read_media_corpus

    docs = read_media_corpus(args.input)
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize,
                        max_length=args.max_length)
    if not getattr(emb, "is_vl", False):
        raise ValueError(f"{args.input} holds images or PDF pages; embedding them needs a Qwen3-VL model, "
                         f"and {args.model} is a text model")
    vecs = np.zeros((len(docs), emb.check_dim(args.dim)), np.float32)
    from ..progress import tqdm

    for a in tqdm(range(0, len(docs), args.batch_size), desc="embedding", unit="batch", disable=len(docs) <= 8):
        step = docs[a: a + args.batch_size]  # pages render per step, so memory stays flat
        vecs[a: a + len(step)] = emb.encode([document_input(d.meta, d.text) for d in step],
                                            instruction=args.instruction, dim=args.dim, batch_size=args.batch_size)
    np.save(out, vecs)
    ids = out.with_name(out.stem + ".ids.jsonl")
    ids.write_text("".join(json.dumps({"row": i, "id": d.id, "file": d.meta.get("file"), "page": d.meta.get("page")})
                           + "\n" for i, d in enumerate(docs)), encoding="utf-8")
    print(f"wrote {vecs.shape[0]} x {vecs.shape[1]} float32 vectors to {out} (rows listed in {ids})", file=sys.stderr)
    return 0
