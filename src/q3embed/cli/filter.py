from __future__ import annotations

from ._common import add_model_args, add_verb, check_output_dir, check_output_file, check_positive, load_embedder


def register(sub) -> None:
    p = add_verb(sub, "filter", run, "keep pairs whose cosine(query, positive) exceeds a threshold",
                 "The paper's filter for synthetic pairs: embed each query (with its instruction) and\n"
                 "positive, keep the pair if their cosine > --threshold (0.7 as in the paper).\n"
                 "Prints kept/dropped counts and a histogram of the scores; --png writes a plot.\n\n"
                 "0.7 was tuned for Qwen3; calibrate for another model with --percentile P (drop the\n"
                 "lowest P% of these pairs) or --fit-on GOOD.jsonl --fit-keep F (the cut that keeps\n"
                 "F of known-good pairs).")
    add_model_args(p)
    p.add_argument("--in", dest="input", required=True, help="pairs .jsonl (query, pos, ...)")
    p.add_argument("--out", required=True, help="kept pairs .jsonl")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, default=None, help="keep cosine > this (default 0.7)")
    rule.add_argument("--percentile", type=float, default=None,
                      help="threshold = this percentile of the input's scores (drops the lowest P%%)")
    rule.add_argument("--fit-on", default=None, metavar="GOOD.jsonl",
                      help="known-good pairs: threshold = the cut that keeps --fit-keep of them")
    p.add_argument("--fit-keep", type=float, default=None, help="with --fit-on: fraction of its pairs to keep (default 0.9)")
    p.add_argument("--png", default=None, help="also write a histogram plot to this .png")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--no-instruction", action="store_true", help="embed queries without their instruction")


def run(args) -> int:
    import sys
    from pathlib import Path

    import numpy as np

    from ..synth.filter import (fitted_threshold, histogram_png, pair_scores, percentile_threshold, read_pairs,
                                select_pairs, text_histogram, write_pairs)

    check_output_dir(Path(args.out).parent, "--out")  # write_pairs creates the folder; a file in the way is refused now
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a directory; expected a .jsonl path")
    if args.png:
        check_output_file(args.png, "--png")
    check_positive("--batch-size", args.batch_size)
    records = read_pairs(args.input)  # check the inputs before loading a model
    good = read_pairs(args.fit_on) if args.fit_on else None
    if args.threshold is not None and not -1.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be a cosine in [-1, 1], got {args.threshold}")
    if args.percentile is not None and not 0.0 <= args.percentile < 100.0:
        raise ValueError(f"--percentile must be in [0, 100), got {args.percentile}")
    if args.fit_keep is not None and not args.fit_on:
        raise ValueError("--fit-keep applies to --fit-on GOOD.jsonl (the known-good pairs it keeps a share of); "
                         "add --fit-on, or use --threshold or --percentile")
    args.fit_keep = 0.9 if args.fit_keep is None else args.fit_keep
    if not 0.0 < args.fit_keep <= 1.0:
        raise ValueError(f"--fit-keep must be a fraction in (0, 1], got {args.fit_keep}")
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    use_instruction = False if args.no_instruction else None

    def score(recs):
        return pair_scores(emb, recs, args.batch_size, use_instruction, show_progress=len(recs) > 256)

    s = score(records)
    if good is not None:
        threshold = fitted_threshold(score(good), args.fit_keep)
        how = f"fitted to keep {args.fit_keep:.0%} of {args.fit_on}"
    elif args.percentile is not None:
        threshold = percentile_threshold(s, args.percentile)
        how = f"the {args.percentile:g}th percentile of these scores"
    else:
        threshold = 0.7 if args.threshold is None else args.threshold
        how = "absolute"
    threshold = max(-1.0, min(1.0, threshold))
    result = select_pairs(records, s, threshold, getattr(emb, "name", ""))
    write_pairs(result.kept, args.out)
    print(f"threshold {threshold:.4f} ({how})", file=sys.stderr)
    print(f"kept {result.n_kept} / dropped {result.n_dropped} of {result.n_records} records "
          f"({result.pairs_kept} of {len(s)} pairs) at cosine > {round(threshold, 4)}", file=sys.stderr)
    print(f"cosine: mean {s.mean():.3f}, median {float(np.median(s)):.3f}, min {s.min():.3f}, max {s.max():.3f}",
          file=sys.stderr)
    print(text_histogram(s, threshold), file=sys.stderr)
    if args.png:
        histogram_png(s, threshold, args.png)
        print(f"wrote {args.png}", file=sys.stderr)
    print(f"wrote {result.n_kept} records to {args.out}", file=sys.stderr)
    return 0
