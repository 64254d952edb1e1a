from __future__ import annotations

from ._common import add_model_args, add_verb, check_output_dir, check_output_file, check_positive, load_embedder


def register(sub) -> None:
    p = add_verb(sub, "filter", run, "keep pairs whose cosine(query, positive) exceeds a threshold",
                 "The paper's filter for synthetic pairs: embed each query (with its instruction) and\n"
                 "positive, keep the pair if their cosine > --threshold (0.7 as in the paper).\n"
                 "Prints kept/dropped counts and a histogram of the scores; --png writes a plot.")
    add_model_args(p)
    p.add_argument("--in", dest="input", required=True, help="pairs .jsonl (query, pos, ...)")
    p.add_argument("--out", required=True, help="kept pairs .jsonl")
    p.add_argument("--threshold", type=float, default=0.7, help="keep cosine > this (default 0.7)")
    p.add_argument("--png", default=None, help="also write a histogram plot to this .png")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--no-instruction", action="store_true", help="embed queries without their instruction")


def run(args) -> int:
    import sys
    from pathlib import Path

    import numpy as np

    from ..synth.filter import cosine_filter, histogram_png, read_pairs, text_histogram, write_pairs

    check_output_dir(Path(args.out).parent, "--out")  # write_pairs creates the folder; a file in the way is refused now
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; expected a .jsonl path")
    if args.png:
        check_output_file(args.png, "--png")
    check_positive("--batch-size", args.batch_size)
    records = read_pairs(args.input)  # check the input before loading a model
    if not -1.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be a cosine in [-1, 1], got {args.threshold}")
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    result = cosine_filter(emb, records, args.threshold, batch_size=args.batch_size,
                           use_instruction=False if args.no_instruction else None,
                           show_progress=len(records) > 256)
    write_pairs(result.kept, args.out)
    s = result.scores
    print(f"kept {result.n_kept} / dropped {result.n_dropped} of {result.n_records} records "
          f"({result.pairs_kept} of {len(s)} pairs) at cosine > {args.threshold}", file=sys.stderr)
    print(f"cosine: mean {s.mean():.3f}, median {float(np.median(s)):.3f}, min {s.min():.3f}, max {s.max():.3f}",
          file=sys.stderr)
    print(text_histogram(s, args.threshold), file=sys.stderr)
    if args.png:
        histogram_png(s, args.threshold, args.png)
        print(f"wrote {args.png}", file=sys.stderr)
    print(f"wrote {result.n_kept} records to {args.out}", file=sys.stderr)
    return 0
