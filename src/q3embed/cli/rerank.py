from __future__ import annotations

from ._common import add_model_args, add_verb


def register(sub) -> None:
    p = add_verb(sub, "rerank", run, "score documents against a query with a Qwen3-Reranker",
                 "Score every document in DOCS (.txt one per line, or .jsonl with 'text') against --query and print\n"
                 "them best first. Scores are P(yes) from the Qwen3-Reranker chat template.")
    add_model_args(p)
    p.add_argument("--query", required=True, help="the query")
    p.add_argument("--instruction", default=None, help="task instruction (default: web search)")
    p.add_argument("--top-n", type=int, default=None, help="print only the best N")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass (default 16)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {index, score, document}")
    p.add_argument("docs", help="documents: .txt or .jsonl")


def run(args) -> int:
    import json
    import sys

    from ..engine import Reranker
    from ..data.jsonl import read_texts

    docs = read_texts(args.docs)
    rr = Reranker.load(args.model, device=args.device, dtype=args.dtype, quantize=args.quantize, max_length=args.max_length)
    ranked = rr.rank(args.query, docs, top_n=args.top_n, instruction=args.instruction,
                     batch_size=args.batch_size, show_progress=len(docs) > 32)
    if args.json:
        print(json.dumps([{"index": i, "score": round(s, 6), "document": docs[i]} for i, s in ranked]))
    else:
        for rank, (i, s) in enumerate(ranked, 1):
            print(f"{rank:>3}  {s:.4f}  [{i}] {docs[i][:100]}")
    return 0
