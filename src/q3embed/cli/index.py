"""``q3embed index build|add|delete|info``: an embedded vector index on disk."""

from __future__ import annotations

import argparse

from ._common import add_compute_args, add_verb, check_output_dir, check_positive, load_embedder, plural


def register(sub) -> None:
    p = add_verb(sub, "index", _help, "build and update an on-disk vector index",
                 "Build an on-disk vector index from a corpus, then add or delete documents. Every change is one\n"
                 "atomic commit: a kill at any moment leaves the index as of its last commit.\n"
                 "Search it with `q3embed search IDX \"query\"`.")
    verbs = p.add_subparsers(dest="index_verb", metavar="SUBVERB")

    b = verbs.add_parser("build", help="embed a corpus into a new index", formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Embed --corpus into a new index at --out.\n"
                                     "CORPUS: a BEIR corpus.jsonl (_id, title, text), a JSONL with id/text, a .txt file (one\n"
                                     "document per line, id L<line>), or a folder of .txt/.md files (id = relative path).\n"
                                     "With a Qwen3-VL model: a folder of images and PDFs (one document per image and per\n"
                                     "PDF page, id FILE or FILE#page=N), or a JSONL with 'text' and/or 'image' (a path).\n"
                                     "The index records the model, dim, storage dtype,\n"
                                     "query instruction and chunking; searches with another model or dim are refused.")
    _model_args(b, required=True)
    b.add_argument("--corpus", required=True, help="corpus .jsonl, .txt (one document per line) or folder of .txt/.md")
    out = b.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", help="index directory to create (the embedded index, the default store)")
    out.add_argument("--store", help=STORE_HELP)
    b.add_argument("--dim", type=int, default=None, help="MRL dimension to store (default: the model width)")
    b.add_argument("--storage-dtype", default="float32", choices=("float32", "float16", "int8"),
                   help="type the vectors are stored in (int8: one scale per vector; default float32). "
                        "The model's compute dtype is --dtype, as on every verb")
    b.add_argument("--binary-dim", type=int, default=0,
                   help="also keep the sign bits of the first N dims (a multiple of 8, at most --dim) for "
                        "`search --method binary`: a Hamming first pass at 1/32 of float32's memory, rescored "
                        "with the stored vectors (default 0: none)")
    b.add_argument("--instruction", default=None, help="query instruction recorded for searches (default: the model's)")
    b.add_argument("--chunk-tokens", type=int, default=0,
                   help="split documents into windows of this many tokens (default 0: no chunking, truncate at max length)")
    b.add_argument("--chunk-overlap", type=int, default=0, help="tokens shared by consecutive chunks (default 0)")
    _links_arg(b)
    _commit_args(b)
    g = b.add_mutually_exclusive_group()
    g.add_argument("--overwrite", action="store_true", help="replace an index already at --out")
    g.add_argument("--resume", action="store_true", help="continue an interrupted build at --out, skipping stored ids")
    from .index_ray import add_ray_arguments

    add_ray_arguments(b)
    b.set_defaults(func=run_build)

    a = verbs.add_parser("add", help="embed and add documents to an index",
                         description="Embed the documents in PATH and add them to IDX in one commit (per --commit-every).\n"
                                     "A document id already in IDX is an error unless --replace or --skip-existing.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("idx", nargs="?", help="index directory (or give --store URL)")
    a.add_argument("path", nargs="?", help="corpus .jsonl, .txt (one document per line) or folder of .txt/.md")
    a.add_argument("--store", help=STORE_HELP + "; then PATH is the only positional")
    _model_args(a, required=False)
    g = a.add_mutually_exclusive_group()
    g.add_argument("--replace", action="store_true", help="replace documents whose id is already stored")
    g.add_argument("--skip-existing", action="store_true", help="leave documents whose id is already stored")
    _commit_args(a)
    _links_arg(a)
    a.set_defaults(func=run_add)

    d = verbs.add_parser("delete", help="delete documents by id", description="Delete documents from IDX in one commit.")
    d.add_argument("ids", nargs="+", metavar="ID", help="IDX (index directory, unless --store) then document ids")
    d.add_argument("--store", help=STORE_HELP)
    d.add_argument("--ignore-missing", action="store_true", help="do not fail on ids that are not stored")
    d.set_defaults(func=run_delete)

    i = verbs.add_parser("info", help="show what an index holds and how it was built",
                         description="Print an index's spec, counts and size; --verify checks every file's sha256.")
    i.add_argument("idx", nargs="?", help="index directory (or give --store URL)")
    i.add_argument("--store", help=STORE_HELP)
    i.add_argument("--verify", action="store_true",
                   help="check the sha256 of every committed file and that every document has all its chunks")
    i.add_argument("--json", action="store_true", help="print JSON")
    i.set_defaults(func=run_info)
    q = verbs.add_parser("to-qdrant", help="copy an index into a Qdrant collection (no re-embedding)",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Copy IDX's vectors, chunks and spec into a Qdrant collection, for corpora that\n"
                                     "outgrow one machine. --url talks to a server (http://host:6333); --path uses\n"
                                     "qdrant-client's local on-disk mode. Search it with\n"
                                     "`q3embed search \"qdrant:///abs/folder?collection=NAME\" \"query\"` (or qdrant://host:6333?...).")
    q.add_argument("idx", help="index directory")
    q.add_argument("--collection", required=True, help="collection name")
    where = q.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="Qdrant server URL, e.g. http://localhost:6333")
    where.add_argument("--path", help="directory for qdrant-client's local mode")
    q.add_argument("--api-key", default=None, help="Qdrant API key (server only)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing collection")
    q.set_defaults(func=run_to_qdrant)
    p.set_defaults(_index_parser=p)


STORE_HELP = ("a database store instead of an index directory: postgresql://user[:password]@host[:port]/db"
              "?collection=NAME (pgvector), qdrant://host[:port]?collection=NAME (a Qdrant server; key from "
              "QDRANT_API_KEY) or qdrant:///abs/folder?collection=NAME (Qdrant local mode); the embedded index "
              "stays the default")


def store_target(args, positional: str | None) -> str:
    """The index directory or store URL a verb works on: the positional IDX or --store, not both."""
    store = getattr(args, "store", None)
    if store and positional:
        raise ValueError(f"give an index directory or --store URL, not both (got {positional!r} and --store)")
    if not store and not positional:
        raise ValueError("give an index directory (IDX) or --store postgresql://user@host/db?collection=NAME")
    return store or positional


def _commit_args(p) -> None:
    p.add_argument("--commit-every", type=int, default=8192,
                   help="commit after this many chunks (default 8192), or sooner per --commit-seconds")
    p.add_argument("--commit-seconds", type=float, default=60.0,
                   help="commit at least this often, at the next whole document (default 60; a kill loses "
                        "at most about this much work)")


def _links_arg(p) -> None:
    p.add_argument("--follow-links", action="store_true",
                   help="in a corpus folder, also read symlinks that lead out of the folder (skipped by default, "
                        "and counted in the summary)")


def text_corpus(path: str, follow_links: bool):
    """The corpus for a build or add: the path itself (read as a text corpus, so bad input fails before a
    model loads), or with --follow-links the documents read with the folder's outside links too."""
    from ..data import read_corpus

    docs = read_corpus(path, follow_links=follow_links)
    return docs if follow_links else path


def report_links(path: str, follow_links: bool) -> None:
    """Say which symlinks led out of a corpus folder: skipped, or read because of --follow-links."""
    import sys

    from ..data.corpus import links_leaving

    links = links_leaving(path)
    if not links:
        return
    shown = ", ".join(f"{link.relative_to(path)} -> {target}" for link, target in links[:3]) + \
        (f" and {len(links) - 3} more" if len(links) > 3 else "")
    if follow_links:
        print(f"read {plural(len(links), 'symlink')} leading out of {path} (--follow-links): {shown}", file=sys.stderr)
    else:
        print(f"skipped {plural(len(links), 'symlink')} leading out of {path}: {shown}; pass --follow-links to "
              "index them", file=sys.stderr)


def _help(args) -> int:
    args._index_parser.print_help()
    return 2


def _model_args(p, required: bool) -> None:
    p.add_argument("--model", required=required,
                   help="embedding checkpoint directory or hub name" + ("" if required else " (default: the one the index records)"))
    add_compute_args(p)
    p.add_argument("--max-length", type=int, default=None, help="token limit per input")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")


def _embedder(args, model: str):

    return load_embedder(model, device=args.device, dtype=args.dtype, max_length=args.max_length)


def _progress() -> bool:
    return True  # a live bar on a terminal, periodic log lines off one (q3embed.progress)


def run_build(args) -> int:
    import sys

    from ..stores.open import build_store

    _check_build_target(args)
    check_positive("--batch-size", args.batch_size)
    check_positive("--commit-every", args.commit_every)
    if args.binary_dim < 0 or args.binary_dim % 8 or (args.dim and args.binary_dim > args.dim):  # before the model loads
        up_to = f"--dim {args.dim}" if args.dim else "the model's dim"
        raise ValueError(f"--binary-dim must be 0 (no sign bits) or a multiple of 8 up to {up_to}, got {args.binary_dim}")
    if args.ray is not None:
        if args.binary_dim:
            raise ValueError("--binary-dim is not available with --ray; build without --ray to keep sign bits")
        from .index_ray import run_ray_build

        return run_ray_build(args)
    corpus = media_or_text_corpus(args.corpus, args.follow_links)  # report bad input before loading a model
    if not isinstance(corpus, list):
        corpus = text_corpus(corpus, args.follow_links)
    embedder = _embedder(args, args.model)
    embedder.check_dim(args.dim)  # a --dim the model cannot give, too, is refused before --out is created
    if args.binary_dim > (args.dim or embedder.width):  # refuse before --out is created: a retry must find it free
        raise ValueError(f"--binary-dim must be a multiple of 8 up to the index dim {args.dim or embedder.width}, "
                         f"got {args.binary_dim}")
    store = build_store(args.store or args.out, corpus, embedder, dim=args.dim,
                        dtype=args.storage_dtype, instruction=args.instruction, chunk_tokens=args.chunk_tokens,
                        chunk_overlap=args.chunk_overlap, batch_size=args.batch_size, commit_every=args.commit_every,
                        commit_seconds=args.commit_seconds, overwrite=args.overwrite, resume=args.resume,
                        show_progress=_progress(), binary_dim=args.binary_dim)
    print(f"built {summary(store)}", file=sys.stderr)
    report_links(args.corpus, args.follow_links)
    store.close()
    return 0


def media_or_text_corpus(path: str, follow_links: bool = False):
    """A folder of images/PDFs (or a JSONL with 'image' rows) as media documents (data/pages.py), each
    image or PDF page one document; otherwise the path itself, checked as a text corpus."""
    from ..data import read_corpus
    from ..data.pages import is_media_corpus, read_media_corpus

    if is_media_corpus(path):
        return read_media_corpus(path, follow_links)
    read_corpus(path)
    return path


def _check_build_target(args) -> None:
    if args.dtype == "int8":
        raise ValueError("--dtype is the model's compute dtype (float32, bfloat16, float16); "
                         "to store int8 vectors use --storage-dtype int8")
    if not args.out:  # --store URL: the store says whether the target exists
        return
    out = check_output_dir(args.out, "--out")
    if out.is_dir() and any(out.iterdir()) and not (args.overwrite or args.resume):
        raise FileExistsError(f"--out {out} is not empty (an index, or a build that was interrupted); pass --resume "
                              "to continue the build, --overwrite to replace it, or choose a new --out")


def run_add(args) -> int:
    import sys

    from ..data import read_corpus
    from ..stores import DuplicateIdError, open_store

    if args.store and args.idx and not args.path:
        args.idx, args.path = None, args.idx  # `index add --store URL PATH`
    if not args.path:
        raise ValueError("give the corpus to add: q3embed index add IDX PATH (or --store URL PATH)")
    store = open_store(store_target(args, args.idx))
    corpus = media_or_text_corpus(args.path, args.follow_links)
    docs = corpus if isinstance(corpus, list) else read_corpus(corpus, follow_links=args.follow_links)
    mode = "replace" if args.replace else "skip" if args.skip_existing else "error"
    dup = list(store.stored_chunks([d.id for d in docs]))
    if dup and mode == "error":  # refuse before spending time loading a model
        raise DuplicateIdError.for_ids(store.location, dup, "pass --replace or --skip-existing")
    store.attach(_embedder(args, args.model or store.spec.model))
    n = store.add(docs, on_duplicate=mode, batch_size=args.batch_size, commit_every=args.commit_every,
                  commit_seconds=args.commit_seconds, show_progress=_progress())
    print(f"added {plural(n, 'document')}; {summary(store)}", file=sys.stderr)
    report_links(args.path, args.follow_links)
    store.close()
    return 0


def run_delete(args) -> int:
    import sys

    from ..stores import open_store

    ids = list(args.ids)
    target = store_target(args, None if args.store else ids.pop(0))
    if not ids:
        raise ValueError("give at least one document id to delete")
    store = open_store(target)
    n = store.delete(ids, missing="ignore" if args.ignore_missing else "error")
    print(f"deleted {plural(n, 'document')}; {summary(store)}", file=sys.stderr)
    store.close()
    return 0


def run_info(args) -> int:
    import json
    import sys

    from ..stores import open_store

    store = open_store(store_target(args, args.idx), verify=args.verify)
    spec = store.spec.to_json()
    spec.pop("probe")
    partial = store.partial_documents() if args.verify else []
    info = {"location": store.location, "documents": store.count()}
    if hasattr(store, "num_chunks"):  # the embedded index's files
        info.update(chunks=store.num_chunks, generation=store.generation, segments=len(store.segments),
                    bytes=store.size_bytes())
    from ..stores.footprint import footprint

    per_million = footprint(store)
    if per_million:
        info["memory_per_million_vectors_mb"] = per_million  # measured from the files or table, see docs/search.md
    info.update(interrupted=store.interrupted, verified=bool(args.verify), partial_documents=partial, spec=spec)
    if args.json:
        print(json.dumps(info))
    else:
        from .info import print_fields

        print_fields(info)
    if store.interrupted:
        print(interrupted_note(store), file=sys.stderr)
    store.close()
    if partial:
        shown = ", ".join(map(repr, partial[:5])) + (f" and {len(partial) - 5} more" if len(partial) > 5 else "")
        print(f"error: {store.location}: {len(partial)} documents are stored without all their chunks ({shown}); "
              "repair with `q3embed index build --resume` or `q3embed index add IDX CORPUS --skip-existing`",
              file=sys.stderr)
        return 1
    return 0


def summary(store) -> str:
    """What a store holds, in words (``idx: 2 documents (3 chunks); model 'm', dim 64, float32, ...``)."""
    chunks = getattr(store, "num_chunks", None)  # the embedded index counts its chunks cheaply
    held = plural(store.count(), "document") + (f" ({plural(chunks, 'chunk')})" if chunks is not None else "")
    return f"{store.location}: {held}; {store.spec.describe()}"


def interrupted_note(store) -> str:
    return (f"warning: {store.location} is an interrupted build ({store.count()} documents committed so far); "
            f"finish it with `q3embed index build --resume` and the same arguments")


def run_to_qdrant(args) -> int:
    import sys

    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise ValueError("index to-qdrant needs the qdrant-client package: pip install 'q3embed[search]'") from None

    from ..stores import Index, StoreExistsError
    from ..stores.qdrant import QdrantStore

    index = Index.open(args.idx)
    client = QdrantClient(url=args.url, api_key=args.api_key) if args.url else QdrantClient(path=args.path)
    try:
        target = QdrantStore.from_index(index, client, args.collection, overwrite=args.overwrite)
    except StoreExistsError:
        client.close()
        raise StoreExistsError(f"Qdrant collection {args.collection!r} already exists at {args.url or args.path}; "
                               "pass --overwrite to replace it") from None
    except Exception as e:
        from .boundary import _is_connection_error

        if args.url and _is_connection_error(e):
            raise ConnectionError(f"no Qdrant server answers at {args.url}; start one (docker run -p 6333:6333 "
                                  "qdrant/qdrant) or copy into qdrant-client's local mode with --path DIR") from e
        raise
    print(f"copied {plural(len(index), 'document')} ({plural(index.num_chunks, 'chunk')}) into Qdrant collection "
          f"{args.collection!r} ({plural(len(target), 'document')} there)", file=sys.stderr)
    client.close()
    return 0
