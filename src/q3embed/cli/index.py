"""``q3embed index build|add|delete|info``: an embedded vector index on disk."""

from __future__ import annotations

import argparse

from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "index", _help, "build and update an on-disk vector index",
                 "Build an on-disk vector index from a corpus, then add or delete documents. Every change is one\n"
                 "atomic commit: a kill at any moment leaves the index as of its last commit.\n"
                 "Search it with `q3embed search IDX \"query\"`.")
    verbs = p.add_subparsers(dest="index_verb", metavar="SUBVERB")

    b = verbs.add_parser("build", help="embed a corpus into a new index", formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Embed --corpus into a new index at --out.\n"
                                     "CORPUS: a BEIR corpus.jsonl (_id, title, text), a JSONL with id/text, or a folder of\n"
                                     ".txt/.md files (id = relative path). The index records the model, dim, dtype,\n"
                                     "query instruction and chunking; searches with another model or dim are refused.")
    _model_args(b, required=True)
    b.add_argument("--corpus", required=True, help="corpus .jsonl or folder of .txt/.md")
    b.add_argument("--out", required=True, help="index directory to create")
    b.add_argument("--dim", type=int, default=None, help="MRL dimension to store (default: the model width)")
    b.add_argument("--dtype", default="float32", choices=("float32", "float16", "int8"),
                   help="storage type of the vectors (int8: one scale per vector; default float32)")
    b.add_argument("--instruction", default=None, help="query instruction recorded for searches (default: the model's)")
    b.add_argument("--chunk-tokens", type=int, default=0,
                   help="split documents into windows of this many tokens (default 0: no chunking, truncate at max length)")
    b.add_argument("--chunk-overlap", type=int, default=0, help="tokens shared by consecutive chunks (default 0)")
    b.add_argument("--commit-every", type=int, default=8192, help="commit after this many chunks (default 8192)")
    g = b.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace an index already at --out")
    g.add_argument("--resume", action="store_true", help="continue an interrupted build at --out, skipping stored ids")
    b.set_defaults(func=run_build)

    a = verbs.add_parser("add", help="embed and add documents to an index",
                         description="Embed the documents in PATH and add them to IDX in one commit (per --commit-every).\n"
                                     "A document id already in IDX is an error unless --replace or --skip-existing.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("idx", help="index directory")
    a.add_argument("path", help="corpus .jsonl or folder of .txt/.md")
    _model_args(a, required=False)
    g = a.add_mutually_exclusive_group()
    g.add_argument("--replace", action="store_true", help="replace documents whose id is already stored")
    g.add_argument("--skip-existing", action="store_true", help="leave documents whose id is already stored")
    a.add_argument("--commit-every", type=int, default=8192, help="commit after this many chunks (default 8192)")
    a.set_defaults(func=run_add)

    d = verbs.add_parser("delete", help="delete documents by id", description="Delete documents from IDX in one commit.")
    d.add_argument("idx", help="index directory")
    d.add_argument("ids", nargs="+", metavar="ID", help="document ids")
    d.add_argument("--ignore-missing", action="store_true", help="do not fail on ids that are not stored")
    d.set_defaults(func=run_delete)

    i = verbs.add_parser("info", help="show what an index holds and how it was built",
                         description="Print an index's spec, counts and size; --verify checks every file's sha256.")
    i.add_argument("idx", help="index directory")
    i.add_argument("--verify", action="store_true", help="check the sha256 of every committed file")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=run_info)
    q = verbs.add_parser("to-qdrant", help="copy an index into a Qdrant collection (no re-embedding)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Copy IDX's vectors, chunks and spec into a Qdrant collection, for corpora that\n"
                                     "outgrow one machine. --url talks to a server (http://host:6333); --path uses\n"
                                     "qdrant-client's local on-disk mode. Search it from Python with QdrantIndex.")
    q.add_argument("idx", help="index directory")
    q.add_argument("--collection", required=True, help="collection name")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="Qdrant server URL, e.g. http://localhost:6333")
    where.add_argument("--path", help="directory for qdrant-client's local mode")
    q.add_argument("--api-key", default=None, help="Qdrant API key (server only)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing collection")
    q.set_defaults(func=run_to_qdrant)
    p.set_defaults(_index_parser=p)


def _help(args) -> int:
    args._index_parser.print_help()
    return 2


def _model_args(p, required: bool) -> None:
    p.add_argument("--model", required=required,
                   help="embedding checkpoint directory or hub name" + ("" if required else " (default: the one the index records)"))
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: best available)")
    p.add_argument("--torch-dtype", default=None, help="model compute dtype: float32, bfloat16, float16")
    p.add_argument("--max-length", type=int, default=None, help="token limit per input")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")


def _embedder(args, model: str):
    from ..engine import Embedder

    return Embedder.load(model, device=args.device, dtype=args.torch_dtype, max_length=args.max_length)


def _progress() -> bool:
    import sys

    return sys.stderr.isatty()


def run_build(args) -> int:
    import sys

    from ..stores import Index, read_corpus

    read_corpus(args.corpus)  # report bad input before loading a model
    index = Index.build(args.out, args.corpus, _embedder(args, args.model), dim=args.dim, dtype=args.dtype,
                        instruction=args.instruction, chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_overlap,
                        batch_size=args.batch_size, commit_every=args.commit_every, overwrite=args.overwrite,
                        resume=args.resume, show_progress=_progress())
    print(f"built {index}", file=sys.stderr)
    return 0


def run_add(args) -> int:
    import sys

    from ..stores import Index, read_corpus

    from ..stores import DuplicateIdError

    index = Index.open(args.idx)
    docs = read_corpus(args.path)
    mode = "replace" if args.replace else "skip" if args.skip_existing else "error"
    dup = [d.id for d in docs if d.id in index]
    if dup and mode == "error":  # refuse before spending time loading a model
        raise DuplicateIdError.for_ids(str(index.root), dup, "pass --replace or --skip-existing")
    index.attach(_embedder(args, args.model or index.spec.model))
    n = index.add(docs, on_duplicate=mode, batch_size=args.batch_size, commit_every=args.commit_every,
                  show_progress=_progress())
    print(f"added {n} documents; {index}", file=sys.stderr)
    return 0


def run_delete(args) -> int:
    import sys

    from ..stores import Index

    index = Index.open(args.idx)
    try:
        n = index.delete(args.ids, missing="ignore" if args.ignore_missing else "error")
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    print(f"deleted {n} documents; {index}", file=sys.stderr)
    return 0


def run_info(args) -> int:
    import json

    from ..stores import Index

    index = Index.open(args.idx, verify=args.verify)
    spec = index.spec.to_json()
    spec.pop("probe")
    info = {"path": str(index.root), "documents": len(index), "chunks": index.num_chunks,
            "generation": index.generation, "segments": len(index.segments), "bytes": index.size_bytes(),
            "verified": bool(args.verify), "spec": spec}
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:>10}: {v}")
    return 0


def run_to_qdrant(args) -> int:
    import sys

    from qdrant_client import QdrantClient

    from ..stores import Index
    from ..stores.qdrant import QdrantIndex

    index = Index.open(args.idx)
    client = QdrantClient(url=args.url, api_key=args.api_key) if args.url else QdrantClient(path=args.path)
    target = QdrantIndex.from_index(index, client, args.collection, overwrite=args.overwrite)
    print(f"copied {len(index)} documents ({index.num_chunks} chunks) into Qdrant collection {args.collection!r} "
          f"({len(target)} documents there)", file=sys.stderr)
    client.close()
    return 0
