"""``q3embed search IDX "query"``: dense, lexical or hybrid top-k from the index -> optional rerank."""

from __future__ import annotations

from ..stores.fusion import SEARCH_MODES
from ..stores.local_index import SEARCH_METHODS
from ._common import add_compute_args, add_verb, check_text, load_embedder, shorten
from .fusion_args import add_fusion_args, fusion_config


def register(sub) -> None:
    p = add_verb(sub, "search", run, "search an index built with `q3embed index build`",
                 "Embed QUERY with the model the index records (or --model, which must be the same model),\n"
                 "find the top documents (--mode dense, lexical BM25, or hybrid: both fused with RRF),\n"
                 "and with --reranker rerank the best --rerank-top of them.\n"
                 "Prints rank, document id, score (and reranker score), and the matching text.")
    p.add_argument("idx", help="index directory, or a store URL postgresql://user@host/db?collection=NAME or "
                   "qdrant://host[:port]?collection=NAME")
    p.add_argument("query", nargs="+", help="one or more queries")
    p.add_argument("--top-k", type=int, default=10, help="documents to print per query (default 10)")
    p.add_argument("--instruction", default=None, help="query instruction (default: the one the index records)")
    p.add_argument("--mode", default="dense", choices=SEARCH_MODES,
                   help="dense vectors (default), lexical (BM25 over the text), or hybrid (both, fused; "
                        "each hit says which first stage found it)")
    p.add_argument("--method", default="exact", choices=SEARCH_METHODS,
                   help="how the dense stage searches: exact inner product (default), HNSW/IVF (approximate; a "
                        "store URL has exact and hnsw), MRL funnel, or binary (sign bits, then rescoring)")
    add_fusion_args(p)
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="keep documents whose metadata has KEY equal to VALUE (repeatable; dense: exact method)")
    p.add_argument("--funnel-dim", type=int, default=None, help="first-pass dim of --method funnel (default dim/4)")
    p.add_argument("--reranker", default=None, help="Qwen3-Reranker checkpoint for a second stage")
    p.add_argument("--rerank-top", type=int, default=100, help="first-stage candidates to rerank (default 100)")
    p.add_argument("--rerank-instruction", default=None, help="reranker instruction (default: web search)")
    p.add_argument("--model", default=None, help="embedding model (default: the one the index records)")
    add_compute_args(p)
    p.add_argument("--json", action="store_true", help="print JSON: one object per query with its hits")


def run(args) -> int:
    import json
    import sys

    from ..engine import Reranker
    from ..stores import FunnelConfig, Retriever, open_store
    from .index import interrupted_note

    for i, q in enumerate(args.query, 1):
        check_text(f"query {i}" if len(args.query) > 1 else "the query", q)
    store = open_store(args.idx)  # a missing index fails here, naming where, before any model loads
    if args.top_k < 1 or args.rerank_top < 1:
        raise ValueError("--top-k and --rerank-top must be >= 1")
    if args.method not in store.search_methods:
        raise ValueError(f"--method {args.method} is not available for {store.location}; "
                         f"accepted: {', '.join(store.search_methods)}")
    fusion = fusion_config(args)
    where = _parse_where(args.where)
    if store.interrupted:
        print(interrupted_note(store), file=sys.stderr)
    dtype = args.dtype
    embedder = load_embedder(args.model or store.spec.model, device=args.device, dtype=dtype)
    reranker = None
    if args.reranker:
        reranker = Reranker.load(args.reranker, device=args.device, dtype=dtype)
    retriever = Retriever(embedder, store, reranker, instruction=args.instruction,
                          rerank_instruction=args.rerank_instruction)
    tuning = FunnelConfig(dim=args.funnel_dim) if args.method == "funnel" else None
    results = retriever.search(list(args.query), top_k=args.top_k, rerank_top=args.rerank_top, mode=args.mode,
                               method=args.method, where=where, tuning=tuning, fusion=fusion)
    store.close()
    if args.json:
        print(json.dumps([{"query": q, "hits": [h.to_dict() for h in hits]} for q, hits in zip(args.query, results)]))
        return 0
    for q, hits in zip(args.query, results):
        print(format_hits(q, hits))
    return 0


def _parse_where(items: list[str]) -> dict | None:
    where = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--where takes KEY=VALUE, got {item!r}")
        where[key] = value
    return where or None


def format_hits(query: str, hits) -> str:
    lines = [f"query: {shorten(query, 200)}"]
    for rank, h in enumerate(hits, 1):
        rr = f"  rerank {h.rerank_score:.4f}" if h.rerank_score is not None else ""
        text = " ".join(h.text.split())
        found = f"  [{'+'.join(h.stages)}]" if h.stages else ""
        lines.append(f"{rank:>3}. {h.id}  score {h.score:.4f}{rr}{found}  {text[:90]}{'...' if len(text) > 90 else ''}")
    return "\n".join(lines)
