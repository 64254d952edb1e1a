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
    p.add_argument("query", nargs="*", help="one or more queries (or --image)")
    p.add_argument("--image", action="append", default=[], metavar="PATH",
                   help="search by an image instead of text (repeatable; a Qwen3-VL index; dense mode)")
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
    p.add_argument("--oversample", type=float, default=4.0,
                   help="--method binary: candidates rescored per result, >= 1 (default 4)")
    p.add_argument("--no-rescore", action="store_true",
                   help="--method binary: rank by Hamming distance alone (faster, less accurate)")
    p.add_argument("--reranker", default=None, help="Qwen3-Reranker checkpoint for a second stage")
    p.add_argument("--rerank-top", type=int, default=100, help="first-stage candidates to rerank (default 100)")
    p.add_argument("--rerank-instruction", default=None, help="reranker instruction (default: web search)")
    p.add_argument("--model", default=None, help="embedding model (default: the one the index records)")
    add_compute_args(p)
    p.add_argument("--json", action="store_true", help="print JSON Lines: one {\"query\", \"hits\"} object per query, each hit "
                                                       "as /v1/retrieve's results")


def run(args) -> int:
    import json
    import sys

    from ..engine import Reranker
    from ..stores import FunnelConfig, Retriever, open_store
    from .index import interrupted_note

    if not args.query and not args.image:
        raise ValueError("give a query, or --image PATH to search by an image")
    for i, q in enumerate(args.query, 1):
        check_text(f"query {i}" if len(args.query) > 1 else "the query", q)
    queries = list(args.query) + _image_queries(args.image)
    store = open_store(args.idx)  # a missing index fails here, naming where, before any model loads
    if args.top_k < 1 or args.rerank_top < 1:
        raise ValueError("--top-k and --rerank-top must be >= 1")
    if args.method not in store.search_methods:
        raise ValueError(f"--method {args.method} is not available for {store.location}; "
                         f"accepted: {', '.join(store.search_methods)}")
    if args.mode == "lexical" and args.method != "exact":
        raise ValueError(f"--method {args.method} is how the dense stage searches, and --mode lexical has none; "
                         "use --mode dense or hybrid")
    if args.method == "binary" and not store.spec.binary_dim:
        raise ValueError(f"--method binary needs sign bits, and {store.location} keeps none; rebuild it with "
                         "`q3embed index build --binary-dim N`, or use --method exact")
    if not args.oversample >= 1:
        raise ValueError(f"--oversample must be >= 1 (candidates rescored per result), got {args.oversample}")
    fusion = fusion_config(args)
    where = _parse_where(args.where)
    if store.interrupted:
        print(interrupted_note(store), file=sys.stderr)
    dtype = args.dtype
    embedder = load_embedder(args.model or store.spec.model, device=args.device, dtype=dtype)
    if args.image and not getattr(embedder, "is_vl", False):
        raise ValueError(f"--image needs an index built with a Qwen3-VL model; {store.location} was built with "
                         f"{store.spec.model}, a text model: search it with a text query")
    reranker = None
    if args.reranker:
        reranker = Reranker.load(args.reranker, device=args.device, dtype=dtype)
    retriever = Retriever(embedder, store, reranker, instruction=args.instruction,
                          rerank_instruction=args.rerank_instruction)
    tuning = FunnelConfig(dim=args.funnel_dim) if args.method == "funnel" else None
    if args.method == "binary":
        from ..stores.binary import BinaryConfig

        tuning = BinaryConfig(oversample=args.oversample, rescore=not args.no_rescore)
    results = retriever.search(queries, top_k=args.top_k, rerank_top=args.rerank_top, mode=args.mode,
                               method=args.method, where=where, tuning=tuning, fusion=fusion)
    store.close()
    if args.json:
        for q, hits in zip(queries, results):  # JSON Lines: `jq .hits[0].id` works for one query or many
            print(json.dumps({"query": _query_name(q), "hits": [h.to_dict() for h in hits]}))
        return 0
    for q, hits in zip(queries, results):
        print(format_hits(_query_name(q), hits))
    return 0


def _image_queries(paths: list[str]) -> list:
    """Image queries (checked to be readable images before any model loads)."""
    from ..data.media import MediaInput, load_images

    queries = [MediaInput(images=(p,), source=p) for p in paths]
    load_images(queries, field_name="--image")  # one clear line for a missing, corrupt or refused image
    return queries


def _query_name(q) -> str:
    return q if isinstance(q, str) else f"[image {q.source}]"


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
        where = ""
        if h.meta and ("image" in h.meta or "pdf" in h.meta):  # an image or PDF page: where to find it
            where = f"  <{h.meta.get('file', '')}{', page %s' % h.meta['page'] if 'page' in h.meta else ''}>"
            text = h.meta.get("caption", "")
        lines.append(f"{rank:>3}. {h.id}  score {h.score:.4f}{rr}{found}{where}  {text[:90]}"
                     f"{'...' if len(text) > 90 else ''}")
    return "\n".join(lines)
