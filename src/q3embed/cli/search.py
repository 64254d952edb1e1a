"""``q3embed search IDX "query"``: embed -> top-k from the index -> optional rerank."""

from __future__ import annotations

from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "search", run, "search an index built with `q3embed index build`",
                 "Embed QUERY with the model the index records (or --model, which must be the same model),\n"
                 "find the top documents, and with --rerank-model rerank the best --rerank-top of them.\n"
                 "Prints rank, document id, score (and reranker score), and the matching text.")
    p.add_argument("idx", help="index directory")
    p.add_argument("query", nargs="+", help="one or more queries")
    p.add_argument("--top-k", type=int, default=10, help="documents to print per query (default 10)")
    p.add_argument("--instruction", default=None, help="query instruction (default: the one the index records)")
    p.add_argument("--mode", default="exact", choices=("exact", "hnsw", "ivf", "funnel"),
                   help="exact inner product (default), faiss HNSW/IVF (approximate), or MRL funnel")
    p.add_argument("--funnel-dim", type=int, default=None, help="first-pass dim of --mode funnel (default dim/4)")
    p.add_argument("--rerank-model", default=None, help="Qwen3-Reranker checkpoint for a second stage")
    p.add_argument("--rerank-top", type=int, default=100, help="first-stage candidates to rerank (default 100)")
    p.add_argument("--rerank-instruction", default=None, help="reranker instruction (default: web search)")
    p.add_argument("--model", default=None, help="embedding model (default: the one the index records)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--torch-dtype", default=None, help="model compute dtype: float32, bfloat16, float16")
    p.add_argument("--json", action="store_true", help="print JSON: one object per query with its hits")


def run(args) -> int:
    import json

    from ..engine import Embedder, Reranker
    from ..stores import FunnelConfig, Index, Retriever

    index = Index.open(args.idx)  # a missing index fails here, naming the path, before any model loads
    if args.top_k < 1 or args.rerank_top < 1:
        raise ValueError("--top-k and --rerank-top must be >= 1")
    embedder = Embedder.load(args.model or index.spec.model, device=args.device, dtype=args.torch_dtype)
    reranker = None
    if args.rerank_model:
        reranker = Reranker.load(args.rerank_model, device=args.device, dtype=args.torch_dtype)
    retriever = Retriever(embedder, index, reranker, instruction=args.instruction,
                          rerank_instruction=args.rerank_instruction)
    kw = {"funnel": FunnelConfig(dim=args.funnel_dim)} if args.mode == "funnel" else {}
    results = retriever.search(list(args.query), top_k=args.top_k, rerank_top=args.rerank_top, mode=args.mode, **kw)
    if args.json:
        print(json.dumps([{"query": q, "hits": [h.to_dict() for h in hits]} for q, hits in zip(args.query, results)]))
        return 0
    for q, hits in zip(args.query, results):
        print(format_hits(q, hits))
    return 0


def format_hits(query: str, hits) -> str:
    lines = [f"query: {query}"]
    for rank, h in enumerate(hits, 1):
        rr = f"  rerank {h.rerank_score:.4f}" if h.rerank_score is not None else ""
        text = " ".join(h.text.split())
        lines.append(f"{rank:>3}. {h.id}  score {h.score:.4f}{rr}  {text[:90]}{'...' if len(text) > 90 else ''}")
    return "\n".join(lines)
