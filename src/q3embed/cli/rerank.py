from __future__ import annotations

from ._common import add_model_args, add_verb, check_positive, check_text

#: below this many tokens per document, the ranking mostly reflects the query: say so
LOW_DOCUMENT_ROOM = 64


def register(sub) -> None:
    p = add_verb(sub, "rerank", run, "score documents against a query with a Qwen3-Reranker",
                 "Score every document in DOCS (.txt one per line, or .jsonl with 'text') against --query and print\n"
                 "them best first. Scores are P(yes) from the Qwen3-Reranker chat template.")
    add_model_args(p)
    p.add_argument("--query", required=True, help="the query")
    p.add_argument("--instruction", default=None, help="task instruction (default: web search)")
    p.add_argument("--top-n", type=int, default=None, help="print only the best N (N >= 1; default: all)")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass (default 16)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {index, score, document}")
    p.add_argument("--query-image", default=None, metavar="PATH", help="an image as (part of) the query (Qwen3-VL)")
    p.add_argument("docs", help="documents: .txt or .jsonl (Qwen3-VL: also 'image' rows, or a folder of images/PDFs)")


def run(args) -> int:
    import json

    from ..engine import Reranker
    from ..data.jsonl import read_texts

    check_text("--query", args.query)
    check_positive("--top-n", args.top_n)
    check_positive("--batch-size", args.batch_size)
    from ..data.pages import is_media_corpus

    if is_media_corpus(args.docs) or args.query_image:
        return _rerank_media(args)
    docs = read_texts(args.docs, blank="refuse")  # the printed [i] is line i
    if not docs:
        raise ValueError(f"{args.docs} holds no documents; expected one per line (.txt) or a 'text' field (.jsonl)")
    rr = Reranker.load(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    check_document_room(rr, args.query, args.instruction)
    ranked = rr.rank(args.query, docs, top_n=args.top_n, instruction=args.instruction,
                     batch_size=args.batch_size, show_progress=len(docs) > 32)
    if args.json:
        print(json.dumps([{"index": i, "score": round(s, 6), "document": docs[i]} for i, s in ranked]))
    else:
        for rank, (i, s) in enumerate(ranked, 1):
            print(f"{rank:>3}  {s:.4f}  [{i}] {docs[i][:100]}")
    return 0


def check_document_room(rr, query: str, instruction: str | None) -> None:
    """Refuse a query that leaves the documents no tokens (all would score alike); warn when little is left."""
    import sys

    room = rr.document_room(query, instruction)
    if room <= 0:
        raise ValueError(f"the query and instruction fill the reranker's {rr.max_length}-token input "
                         f"({-room} tokens over), so no document text would be scored; shorten the query "
                         "or raise --max-length")
    if room < LOW_DOCUMENT_ROOM:
        print(f"q3embed rerank: warning: the query leaves each document only {room} tokens "
              f"(max length {rr.max_length}); longer documents are cut to that", file=sys.stderr)


def _rerank_media(args) -> int:
    """A Qwen3-VL reranker over image, PDF-page and text documents (data/pages.py)."""
    import json

    from ..data.media import MediaInput, load_images
    from ..data.pages import document_input, is_media_corpus, read_media_corpus
    from ..engine import Reranker
    from ..data import read_corpus

    docs = read_media_corpus(args.docs) if is_media_corpus(args.docs) else read_corpus(args.docs)
    query = MediaInput(text=args.query, images=(args.query_image,) if args.query_image else ())
    load_images([query], field_name="--query-image")  # a bad query image: one line, before the model loads
    rr = Reranker.load(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize,
                       max_length=args.max_length)
    if not getattr(rr, "is_vl", False):
        raise ValueError(f"images need a Qwen3-VL reranker; {args.model} is a text reranker")
    ranked = rr.rank(query, [document_input(d.meta, d.text) for d in docs], top_n=args.top_n,
                     instruction=args.instruction, batch_size=args.batch_size, show_progress=len(docs) > 32)
    if args.json:
        print(json.dumps([{"index": i, "score": round(s, 6), "id": docs[i].id, "file": docs[i].meta.get("file"),
                           "page": docs[i].meta.get("page")} for i, s in ranked]))
    else:
        for rank, (i, s) in enumerate(ranked, 1):
            print(f"{rank:>3}  {s:.4f}  [{i}] {docs[i].text[:100]}")
    return 0
