"""``q3embed merge``: merge checkpoints; ``q3embed merge search``: find the best merge.

Two modes share the verb. argparse cannot mix positional inputs with an optional
sub-command, so the merge parser hands everything after a leading ``search`` word to its
own search parser (``_MergeParser.parse_known_args``).
"""

from __future__ import annotations

import argparse
import re

from ._common import Parser, add_verb, check_input_path

MERGE_HELP = """\
Merge checkpoints tensor by tensor, streaming from (sharded) safetensors, so peak memory
stays near a few blocks rather than the model. The output copies config, tokenizer and
sentence-transformers files and loads in Embedder.load / Reranker.load / transformers.

  q3embed merge --method slerp --t 0.5 A B --out C
  q3embed merge --method slerp --t self_attn=0,1 --t 0.5 A B --out C    (attention: gradient 0..1 over layers)
  q3embed merge --method multislerp A B C --weights 1,1,2 --out D
  q3embed merge --method linear A B C --out D
  q3embed merge --method lora ADAPTER [--lora-base BASE] --out C         (LoRA merged into its base)
  q3embed merge search --checkpoints A B C --task retrieval --data DIR   (see: q3embed merge search --help)

A LoRA adapter directory (adapter_config.json) is accepted wherever a checkpoint is, and is
merged into its base first. Nothing appears at --out unless the merge completes.
"""

SEARCH_HELP = """\
Try merges of the checkpoints, evaluate each, and print a table with the best.
Two checkpoints: slerp at each --grid value. More: multislerp of every subset of two or more.
Each input is also evaluated alone, as the baseline.

  q3embed merge search --checkpoints runs/a runs/b --task retrieval --data data/scifact
  q3embed merge search --checkpoints c1 c2 c3 --task sts --data stsb-en-test.csv --out best

Choose on validation only: nDCG@10 on a seeded 20% of the TRAIN queries (fine-tune on the
other 80%, qrels <split>-fit) and Spearman on an STS dev set, weighted by --sts-weight:
  q3embed merge search --checkpoints c1 c2 --val-data data/scifact --sts-dev stsb-en-dev.csv
Add --val-corpus-docs 1000 --val-negatives mined_val.jsonl to score them against a small hard
sub-corpus (positives + mined negatives + 1000 seeded others) instead of the whole corpus.
"""


class _MergeParser(Parser):
    search_parser: argparse.ArgumentParser

    def parse_known_args(self, args=None, namespace=None):
        if args and args[0] == "search":
            return self.search_parser.parse_known_args(args[1:], namespace)
        return super().parse_known_args(args, namespace)


def register(sub) -> None:
    p = add_verb(sub, "merge", run, "merge checkpoints (slerp, multislerp, linear, LoRA); 'merge search' finds the best",
                 MERGE_HELP)
    p.__class__ = _MergeParser  # same parser, with the 'search' hand-off above
    p.add_argument("inputs", nargs="+", metavar="CHECKPOINT", help="checkpoint or LoRA adapter directories")
    p.add_argument("--out", required=True, help="output directory (must not exist unless --overwrite)")
    p.add_argument("--method", default="slerp", choices=["slerp", "multislerp", "linear", "lora"],
                   help="slerp (2 inputs), multislerp / linear (2+), lora (1 adapter). Default slerp")
    p.add_argument("--t", action="append", default=None, metavar="RULE",
                   help="slerp factor in [0,1]: a value (0.5), a layer gradient (0,0.5,1), or a name-filtered rule "
                        "(mlp=0.3, regex before '='; or the named groups ffn=, attention=); repeat it, most specific first. "
                        "Default 0.5")
    p.add_argument("--weights", default=None, help="multislerp/linear weights, comma-separated, one per input")
    _add_common(p)
    p.add_argument("--storage-dtype", default=None,
                   help="dtype the merged weights are saved in (float32, bfloat16, float16); default: the inputs'")
    p.add_argument("--dtype", dest="legacy_dtype", default=None, help=argparse.SUPPRESS)  # old spelling of --storage-dtype
    p.add_argument("--shard-size", default="5GB", help="largest output shard, e.g. 5GB, 500MB (default 5GB)")
    p.add_argument("--block-elements", type=int, default=None, help="elements per streamed block (default 4M)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (only once the merge is complete)")

    s = Parser(prog="q3embed merge search", description=SEARCH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.set_defaults(func=run_search, verb="merge search")
    s.add_argument("--checkpoints", nargs="+", required=True, help="two or more checkpoint (or adapter) directories")
    s.add_argument("--task", default=None, choices=["retrieval", "sts"], help="retrieval (BEIR folder) or sts (CSV)")
    s.add_argument("--data", default=None, help="BEIR folder for retrieval, sentence1,sentence2,score CSV for sts")
    v = s.add_argument_group("choose on a validation objective instead of --task/--data (test queries never used)")
    v.add_argument("--val-data", default=None, help="BEIR folder whose TRAIN queries are split for validation")
    v.add_argument("--val-from", default="train", help="split carved into <split>-fit / <split>-val (default train)")
    v.add_argument("--val-fraction", type=float, default=0.2, help="share of its queries for validation (default 0.2)")
    v.add_argument("--val-seed", type=int, default=0, help="seed of the query split (default 0)")
    v.add_argument("--val-corpus-docs", type=int, default=None, metavar="N",
                   help="score validation queries against a sub-corpus: their positives, their --val-negatives and "
                        "N seeded other documents (default: the whole corpus)")
    v.add_argument("--val-negatives", default=None, metavar="MINED.jsonl",
                   help="with --val-corpus-docs: a `q3embed mine` file whose negatives for validation queries join the sub-corpus")
    v.add_argument("--sts-dev", default=None, help="STS dev CSV (sentence1,sentence2,score) for the out-of-domain part")
    v.add_argument("--sts-weight", type=float, default=0.5,
                   help="objective = (1-w) * val nDCG@10 + w * STS dev Spearman (default 0.5)")
    s.add_argument("--split", default="test", help="BEIR split (default test)")
    s.add_argument("--strategy", default="auto", choices=["auto", "t-grid", "subsets"],
                   help="t-grid: slerp of 2 checkpoints at each --grid value; subsets: multislerp of every subset; "
                        "auto (default): t-grid for 2 checkpoints, subsets for more")
    s.add_argument("--grid", default="0.25,0.5,0.75", help="slerp factors to try (default 0.25,0.5,0.75)")
    s.add_argument("--instruction", default=None, help="query instruction (default: the model's)")
    s.add_argument("--dim", type=int, default=None, help="MRL dimension to evaluate at")
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--device", default=None)
    s.add_argument("--dtype", default=None, help="compute dtype of the evaluation: float32, bfloat16, float16")
    s.add_argument("--cache-dir", default=None, help="embedding cache directory (reused across runs)")
    s.add_argument("--work-dir", default=None, help="where candidate merges go (default: <--out or ./merge-search>.work)")
    s.add_argument("--keep", action="store_true", help="keep every candidate merge in --work-dir (re-runs reuse them)")
    s.add_argument("--out", default=None, help="also save the best model here (a merge, or a copy of the input "
                                                "checkpoint that scored best)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists (once the search is done)")
    s.add_argument("--report", default=None, help="write the markdown table to this file")
    _add_common(s)
    p.search_parser = s


def _add_common(p) -> None:
    p.add_argument("--lora-base", default=None, help="base checkpoint for LoRA adapter inputs "
                                                     "(default: the adapter's base_model_name_or_path)")


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"--shard-size {text!r} is not a size; write e.g. 5GB, 500MB or 1000000")
    unit = (m.group(2) or "B").upper().rstrip("B").rstrip("I")
    return int(float(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[unit])


def run(args) -> int:
    import sys

    from ..merge import merge_checkpoints
    from ..merge.checkpoints import BLOCK_ELEMENTS

    dtype = None
    if args.legacy_dtype:
        print("q3embed merge: warning: --dtype is deprecated here; the saved dtype is --storage-dtype "
              "(--dtype is the compute dtype on every other verb)", file=sys.stderr)
        args.storage_dtype = args.storage_dtype or args.legacy_dtype
    if args.storage_dtype:
        import torch

        from ..model.loading import pick_dtype

        dtype = pick_dtype(args.storage_dtype, torch.device("cpu"))
    weights = None
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            raise ValueError(f"--weights {args.weights!r} must be comma-separated numbers, e.g. 1,1,2") from None
    if args.method != "slerp" and args.t:
        raise ValueError(f"--t applies to slerp only; {args.method} takes --weights")
    if args.method == "slerp" and weights:
        raise ValueError("--weights applies to multislerp and linear; slerp takes --t")
    result = merge_checkpoints(args.inputs, args.out, method=args.method, t=args.t or ["0.5"], weights=weights,
                               lora_base=args.lora_base, dtype=dtype, shard_bytes=parse_size(args.shard_size),
                               block_elements=args.block_elements or BLOCK_ELEMENTS, overwrite=args.overwrite,
                               show_progress=True)
    print(f"merged {result.tensors} tensors ({result.bytes_written / 2**20:.1f} MiB) with {args.method} "
          f"into {result.out} in {result.seconds:.1f}s", file=sys.stderr)
    if result.colinear:
        print(f"{len(result.colinear)} tensors were nearly colinear and used linear interpolation "
              f"(e.g. {result.colinear[0]})", file=sys.stderr)
    for note in result.not_merged:
        print(f"not merged: {note}", file=sys.stderr)
    return 0


def run_search(args) -> int:
    import sys
    from pathlib import Path

    from ..merge.files import copy_checkpoint
    from ..merge.objective import check_objective, validation_objective
    from ..merge.search import (
        evaluator,
        format_table,
        merge_search,
        parse_grid,
        remove_candidates,
    )

    grid = parse_grid(args.grid)
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ValueError(f"--out {args.out} already exists; choose another directory, or pass --overwrite")
    work = Path(args.work_dir or f"{args.out or 'merge-search'}.work")
    common = {"instruction": args.instruction, "dim": args.dim, "batch_size": args.batch_size, "device": args.device,
              "dtype": args.dtype, "cache_dir": args.cache_dir, "show_progress": True}
    if args.val_data:
        if args.task or args.data:
            raise ValueError("--val-data chooses on a validation objective; drop --task/--data (or drop --val-data)")
        check_objective(args.sts_dev, args.sts_weight, args.val_corpus_docs, args.val_negatives)
        for flag, path in (("--val-data", args.val_data), ("--sts-dev", args.sts_dev),
                           ("--val-negatives", args.val_negatives)):
            check_input_path(path, flag)
        evaluate, metrics = validation_objective(
            args.val_data, work, sts_dev=args.sts_dev, sts_weight=args.sts_weight, split=args.val_from,
            fraction=args.val_fraction, seed=args.val_seed, corpus_docs=args.val_corpus_docs,
            negatives=args.val_negatives, **common)
    elif args.task and args.data:
        check_input_path(args.data, "--data")  # before the first candidate is evaluated
        evaluate = evaluator(args.task, args.data, split=args.split, **common)
        metrics = ("main_score", "ndcg_at_10", "recall_at_100") if args.task == "retrieval" else ("main_score",)
    else:
        raise ValueError("merge search needs --task and --data, or --val-data (with --sts-dev) for a validation objective")
    result = merge_search(args.checkpoints, evaluate, work, strategy=args.strategy, grid=grid,
                          lora_base=args.lora_base, keep=True)
    table = format_table(result, metrics)
    print(table)
    best = result.best
    print(f"best: {best.candidate.label} (main_score {best.scores['main_score']:.4f})")
    if args.report:
        Path(args.report).write_text(table + "\n")
    if args.out:
        copy_checkpoint(best.path, args.out, overwrite=True)  # --overwrite was checked before the search
        what = "merge" if best.candidate.method is not None else "model, an input checkpoint,"
        print(f"saved the best {what} to {args.out}", file=sys.stderr)
    if not args.keep:
        remove_candidates(result, work)
    return 0
