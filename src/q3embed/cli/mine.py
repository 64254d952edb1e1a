"""``q3embed mine``: hard negatives for training, from a BEIR-style corpus, queries and qrels."""

from __future__ import annotations

from ._common import add_model_args, add_verb, check_output_dir, check_positive, config_from_flags, load_embedder


def register(sub) -> None:
    p = add_verb(
        sub, "mine", run, "mine hard negatives into a training JSONL",
        "Rank the corpus for each judged query with --model, sample --num-neg negatives from the rank window\n"
        "--range (1-based, inclusive), never a known positive, and write JSONL rows\n"
        '{"query", "pos": [...], "neg": [...]} that `q3embed train` reads.\n'
        "With --reranker and --max-score, candidates the reranker scores above S are dropped as likely\n"
        "false negatives.\n\n"
        "example: q3embed mine --model minilm --corpus corpus.jsonl --queries queries.jsonl \\\n"
        "           --qrels qrels/train.tsv --out train.jsonl --range 10-100 --num-neg 7",
    )
    add_model_args(p)
    p.add_argument("--corpus", required=True, help="corpus.jsonl (_id, title, text)")
    p.add_argument("--queries", required=True, help="queries.jsonl (_id, text)")
    p.add_argument("--qrels", required=True, help="qrels TSV: query-id, corpus-id, score (header optional)")
    p.add_argument("--out", required=True, help="output training JSONL")
    p.add_argument("--range", default="10-100", help="rank window to sample from, START-END (default 10-100)")
    p.add_argument("--num-neg", type=int, default=7, help="negatives per query (default 7)")
    p.add_argument("--instruction", default=None, help="query instruction (default: the model's query prompt)")
    p.add_argument("--reranker", default=None, help="reranker checkpoint used to drop likely false negatives")
    p.add_argument("--max-score", type=float, default=None, help="drop candidates the reranker scores above this")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument("--cache-dir", default=None, help="embedding cache shared with `q3embed eval` (optional)")


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..data.pairs import write_pairs
    from ..eval.beir import read_corpus, read_qrels, read_queries
    from ..eval.cache import encode_cached
    from ..train.mining import MiningConfig, mine_hard_negatives, parse_rank_range

    check_output_dir(Path(args.out).parent, "--out")  # the folder is created; a file in the way is refused now
    check_positive("--num-neg", args.num_neg)
    check_positive("--batch-size", args.batch_size)
    lo, hi = parse_rank_range(args.range)
    cfg = config_from_flags(MiningConfig, {"rank_start": "--range start", "rank_end": "--range end",
                                           "num_negatives": "--num-neg", "max_score": "--max-score"},
                            rank_start=lo, rank_end=hi, num_negatives=args.num_neg, seed=args.seed, max_score=args.max_score)
    if (args.reranker is None) != (args.max_score is None):
        raise ValueError("--reranker and --max-score go together: give both or neither")
    corpus = read_corpus(Path(args.corpus))
    all_queries = read_queries(Path(args.queries))
    qrels = read_qrels(Path(args.qrels), all_queries, corpus)
    query_ids = [q for q in qrels if q in all_queries]
    doc_ids = list(corpus)
    emb = load_embedder(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    show = True  # a live bar on a terminal, periodic log lines off one (q3embed.progress)
    doc_vecs = encode_cached(emb, [corpus[d] for d in doc_ids], batch_size=args.batch_size,
                             cache_dir=args.cache_dir, show_progress=show)
    query_vecs = encode_cached(emb, [all_queries[q] for q in query_ids], instruction=args.instruction,
                               batch_size=args.batch_size, cache_dir=args.cache_dir, show_progress=show, query=True)
    reranker = None
    if args.reranker is not None:
        from ..engine import Reranker

        reranker = Reranker.load(args.reranker, device=args.device, dtype=args.dtype, quantize=args.quantize)
    instruction = args.instruction
    if instruction is None and emb.layout.is_decoder:
        instruction = emb.query_instruction
    rows = mine_hard_negatives(query_vecs, doc_vecs, query_ids, doc_ids, all_queries, corpus, qrels, cfg,
                               instruction=instruction, reranker=reranker, show_progress=show)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_pairs(rows, out)
    n_neg = sum(len(r["neg"]) for r in rows)
    print(f"wrote {len(rows)} queries, {n_neg} hard negatives to {out}", file=sys.stderr)
    return 0
