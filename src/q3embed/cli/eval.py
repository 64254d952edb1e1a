"""``q3embed eval``: score a model on local data; ``q3embed eval report``: summary table."""

from __future__ import annotations

import argparse

from ..stores.fusion import SEARCH_MODES
from ..stores.local_index import SEARCH_METHODS
from ._common import add_model_args, add_verb, check_output_dir, check_positive, load_embedder
from .fusion_args import add_fusion_args, fusion_config

DESCRIPTION = """\
Evaluate an embedding model on local data, the way MTEB scores it.

  q3embed eval --model M --task retrieval --data BEIR_DIR [--split test] [--instruction T] [--dim D]
  q3embed eval --model M --task sts --data pairs.csv          (s1,s2,score rows or JSONL)
  q3embed eval --model M --task bitext --data SRC.txt TGT.txt  (line-aligned)
  q3embed eval --model M --task rerank --data BEIR_DIR --reranker R [--top-k 100]
  q3embed eval --model M --task retrieval --data BEIR_DIR --dims 32,64,128,256,512,full   (MRL sweep + PNG)
  q3embed eval report RESULTS.json... [--output report.md]

Prints one JSON line (main_score and every metric, as fractions) and writes a results file.
Corpus embeddings are cached under --cache-dir, keyed by model, dim and text hash, and saved
while they are computed: rerun a killed eval and it embeds only the rest.
Data: `q3embed data fetch scifact stsb` fills data/ (BEIR folder, STS CSV).
"""


def register(sub) -> None:
    p = add_verb(sub, "eval", run, "evaluate on local retrieval/STS/bitext/rerank data; 'eval report' tabulates results",
                 DESCRIPTION)
    add_model_args(p, required=False)
    p.add_argument("--task", choices=["retrieval", "sts", "bitext", "rerank"], help="what to evaluate")
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="BEIR folder (retrieval, rerank), pairs file (sts), or SRC.txt TGT.txt (bitext)")
    p.add_argument("--split", default="test", help="qrels split for BEIR data (default test)")
    p.add_argument("--instruction", default=None,
                   help="query instruction (default: the model's own; none for encoders such as MiniLM)")
    p.add_argument("--dim", type=int, default=None, help="MRL output dimension (default: full width)")
    p.add_argument("--dims", default=None, help="MRL sweep, e.g. 32,64,128,256,512,full (retrieval or sts)")
    p.add_argument("--reranker", default=None, help="Qwen3-Reranker checkpoint (task rerank)")
    p.add_argument("--rerank-instruction", default=None, help="reranker instruction (default: web search)")
    p.add_argument("--top-k", type=int, default=100, help="documents retrieved per query (default 100)")
    p.add_argument("--store", default=None,
                   help="retrieval: score the search of this store (index directory or postgresql://...?collection=N) "
                        "that holds --data's corpus, instead of embedding the corpus here")
    p.add_argument("--mode", default="dense", choices=SEARCH_MODES,
                   help="retrieval: dense (default), or with --store lexical (BM25) or hybrid (both, fused)")
    p.add_argument("--method", default="exact", choices=SEARCH_METHODS,
                   help="retrieval with --store: how the dense stage searches (exact, hnsw, ...)")
    add_fusion_args(p)
    p.add_argument("--ignore-identical-ids", action="store_true",
                   help="retrieval: never return a document whose id equals the query id (as MTEB does for ArguAna)")
    p.add_argument("--max-queries", type=int, default=None, help="rerank: score only the first N queries")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--cache-dir", default=".q3embed_cache/embeddings", help="embedding cache (default %(default)s)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--output", default=None, help="results JSON path (default eval-results/MODEL-HASH__TASK__DATA.json; HASH: of the model's "
                        "resolved path, so two models named alike never share a file)")
    p.add_argument("--plot", default=None, help="MRL sweep PNG path (default: next to the results file)")

    modes = p.add_subparsers(dest="eval_mode", metavar="MODE")
    r = modes.add_parser("report", help="markdown table from results files",
                         description="Markdown table from q3embed (or MTEB) results files: a row per model, a column "
                                     "per task, the mean per task type, Mean (Task) and Mean (Type). Scores x100.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("results", nargs="+", help="results JSON files or folders holding them")
    r.add_argument("--output", dest="report_output", default=None, help="also write the table to this .md file")
    r.set_defaults(func=run_report)


def run_report(args) -> int:
    import sys
    from pathlib import Path

    from ..eval.report import load_results, markdown_report

    rows, notes = load_results(args.results)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    table = markdown_report(rows)
    print(table)
    if args.report_output:
        Path(args.report_output).write_text(table + "\n", encoding="utf-8")
        print(f"wrote {args.report_output}", file=sys.stderr)
    return 0


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    from ..eval.report import default_result_path, save_result

    _check_args(args)
    if args.output:  # its folder is created later; a file in the way, or a folder at the path, is refused now
        out = check_output_dir(Path(args.output).parent, "--output") / Path(args.output).name
        if out.is_dir():
            raise ValueError(f"--output {out} is a directory; expected a results .json path")
    if args.cache_dir and not args.no_cache:
        check_output_dir(args.cache_dir, "--cache-dir")
    _check_data(args)  # bad data fails here, before minutes of model loading
    progress = True  # a live bar on a terminal, periodic log lines off one (q3embed.progress)
    cache = None if args.no_cache else args.cache_dir
    emb = _load_embedder(args)
    if args.dims:
        return _run_sweep(args, emb, cache, progress)
    result = _evaluate(args, emb, cache, progress)
    if "data_counts" in result:
        print(f"data: {_summary(result['data_counts'])}", file=sys.stderr)
    suffix = f"-dim{args.dim}" if args.dim else ""
    out = Path(args.output) if args.output else default_result_path(result, suffix=suffix)
    save_result(result, out)
    print(json.dumps(_json_line(result)))
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _check_args(args) -> None:
    if not args.model:
        raise ValueError("--model is required (or use 'q3embed eval report RESULTS...')")
    if not args.task or not args.data:
        raise ValueError("--task and --data are required")
    want = 2 if args.task == "bitext" else 1
    if len(args.data) != want:
        shape = "SRC.txt TGT.txt" if want == 2 else "one path"
        raise ValueError(f"--task {args.task} takes {shape} in --data, got {len(args.data)}")
    if args.task == "rerank" and not args.reranker:
        raise ValueError("--task rerank needs --reranker CHECKPOINT")
    if args.dims and args.task not in ("retrieval", "sts"):
        raise ValueError("--dims (MRL sweep) works with --task retrieval or sts")
    if args.dims and args.dim:
        raise ValueError("give --dim or --dims, not both")
    check_positive("--top-k", args.top_k)
    check_positive("--batch-size", args.batch_size)
    check_positive("--max-queries", args.max_queries)


def _check_data(args) -> None:
    if args.task in ("retrieval", "rerank"):
        from ..eval.beir import load_beir
        from ..eval.visual import is_visual_retrieval, load_visual_retrieval

        if args.task == "retrieval" and is_visual_retrieval(args.data[0]):  # images (Qwen3-VL; eval/visual.py)
            load_visual_retrieval(args.data[0], args.split)
        else:
            load_beir(args.data[0], args.split)
    elif args.task == "sts":
        from ..eval.sts import load_sts_pairs

        load_sts_pairs(args.data[0])
    else:
        from ..eval.bitext import read_aligned_lines

        read_aligned_lines(*args.data)


def _load_embedder(args):

    return load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)


def _evaluate(args, emb, cache, progress) -> dict:
    from ..eval import evaluate_bitext, evaluate_rerank, evaluate_retrieval, evaluate_sts

    common = dict(instruction=args.instruction, dim=args.dim, batch_size=args.batch_size, cache_dir=cache,
                  show_progress=progress)
    if args.task == "retrieval":
        if args.store:
            from ..stores import open_store

            store = open_store(args.store)
            try:
                return evaluate_retrieval(emb, args.data[0], split=args.split, top_k=args.top_k,
                                          ignore_identical_ids=args.ignore_identical_ids, store=store,
                                          mode=args.mode, method=args.method, fusion=fusion_config(args), **common)
            finally:
                store.close()
        if args.mode != "dense":
            raise ValueError(f"--mode {args.mode} searches a store's lexical index: add --store (an index built from "
                             "--data's corpus), or use --mode dense")
        return evaluate_retrieval(emb, args.data[0], split=args.split, top_k=args.top_k,
                                  ignore_identical_ids=args.ignore_identical_ids, **common)
    if args.task == "sts":
        return evaluate_sts(emb, args.data[0], **common)
    if args.task == "bitext":
        return evaluate_bitext(emb, args.data[0], args.data[1], **common)
    from ..engine import Reranker

    rr = Reranker.load(args.reranker, device=args.device, dtype=args.dtype, quantize=args.quantize)
    return evaluate_rerank(emb, rr, args.data[0], split=args.split, top_k=args.top_k,
                           rerank_instruction=args.rerank_instruction, max_queries=args.max_queries, **common)


def _run_sweep(args, emb, cache, progress) -> int:
    import json
    import sys
    from pathlib import Path

    from ..eval.mrl import mrl_sweep, mrl_table, plot_mrl
    from ..eval.report import default_result_path, save_result

    sweep = mrl_sweep(emb, args.task, args.data[0], dims=args.dims, split=args.split, instruction=args.instruction,
                      batch_size=args.batch_size, cache_dir=cache, top_k=args.top_k, show_progress=progress)
    for d in sweep["skipped_dims"]:
        print(f"note: skipped dimension {d}", file=sys.stderr)
    out = Path(args.output) if args.output else default_result_path(sweep)
    save_result(sweep, out)
    png = plot_mrl(sweep, args.plot or out.with_suffix(".png"))
    table = mrl_table(sweep)
    out.with_suffix(".md").write_text(table + "\n", encoding="utf-8")
    print(table, file=sys.stderr)
    print(json.dumps({"task": sweep["task"], "dims": sweep["dims"], "scores": sweep["scores"]}))
    print(f"wrote {out}, {png} and {out.with_suffix('.md')}", file=sys.stderr)
    return 0


def _json_line(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("run",)}


def _summary(stats: dict) -> str:
    from ..eval.beir import BeirStats

    return BeirStats(**stats).summary()
