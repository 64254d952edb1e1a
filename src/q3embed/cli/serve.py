from __future__ import annotations

from ._common import add_model_args, add_verb, config_from_flags, load_embedder

DESCRIPTION = """\
Serve an embedding model (and optionally a reranker and an index) over HTTP:
  POST /v1/embeddings   OpenAI shape (input, model, dimensions, encoding_format) + instruction, input_type
  POST /v1/rerank       Cohere / Jina shape (query, documents, top_n, return_documents) + instruction
  POST /v1/score        vLLM shape (text_1, text_2)
  POST /v1/retrieve     query -> top-k from --index -> rerank
  GET  /v1/models, /health, /metrics (Prometheus text)
  GET  /                a search page over /v1/retrieve (?q=... is a shareable result URL)
Requests arriving together share forward passes (dynamic batching) under --max-batch-tokens.
Binds 127.0.0.1 unless --host says otherwise. Control-token strings in user text stay text unless
--allow-special-tokens (unsafe for untrusted text). SIGTERM finishes in-flight requests (up to 30 s; later
ones get 503), then exits. Slow clients are cut off by --header-timeout and --body-timeout."""


def register(sub) -> None:
    p = add_verb(sub, "serve", run, "serve embeddings, rerank and retrieval over an OpenAI/Cohere-compatible HTTP API",
                 DESCRIPTION)
    add_model_args(p, required=False)
    p.add_argument("--reranker", default=None, help="Qwen3-Reranker checkpoint to serve on /v1/rerank and /v1/score")
    p.add_argument("--index", default=None, help="index directory (q3embed index) to serve on /v1/retrieve")
    p.add_argument("--store", default=None,
                   help="or a database store URL, postgresql://user@host/db?collection=NAME or "
                        "qdrant://host[:port]?collection=NAME: replicas that share it "
                        "answer alike and see each other's adds")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY' (visible in ps; prefer --api-key-file)")
    p.add_argument("--api-key-file", default=None, help="read the API key from this file (first line)")
    p.add_argument("--max-batch-tokens", type=int, default=16384, help="padded tokens per forward pass (default 16384)")
    p.add_argument("--max-batch-size", type=int, default=64, help="rows per forward pass (default 64)")
    p.add_argument("--max-queue", type=int, default=4096, help="rows queued per model before 429 (default 4096)")
    p.add_argument("--max-items", type=int, default=2048, help="inputs or documents per request before 413 (default 2048)")
    p.add_argument("--max-input-tokens", type=int, default=None, help="token limit per input (default: the model's)")
    p.add_argument("--max-request-chars", type=int, default=None,
                   help="characters one request makes the tokenizer read, an instruction or rerank query counted "
                        "once per input it goes with; over it -> 413 before any work (default: the body limit in bytes)")
    p.add_argument("--allow-special-tokens", action="store_true",
                   help="UNSAFE for untrusted text: let control-token strings in inputs (<|im_end|>, <|endoftext|>, ...) "
                        "become real special tokens, as the reference code does; a document can then forge the "
                        "reranker's answer. Default off: user text stays text")
    p.add_argument("--image-root", default=None, metavar="DIR",
                   help="Qwen3-VL: also accept image file paths, only inside DIR (default: data: URLs only; remote "
                        "URLs are never fetched)")
    p.add_argument("--max-images", type=int, default=64, help="Qwen3-VL: images per request before 413 (default 64)")
    p.add_argument("--max-body-mb", type=float, default=8.0, help="request body limit in MiB before 413 (default 8)")
    p.add_argument("--header-timeout", type=float, default=10.0,
                   help="seconds a connection has to send a complete request head before it is closed (default 10)")
    p.add_argument("--body-timeout", type=float, default=30.0,
                   help="seconds a request has to send its whole body before 408 and close (default 30)")
    p.add_argument("--no-truncate", action="store_true", help="reject over-long inputs with 400 instead of truncating")
    p.add_argument("--no-batching", action="store_true", help="run each request alone (for comparison)")
    p.add_argument("--max-wait-ms", type=float, default=2.0, help="how long a batch waits for more requests (default 2)")
    p.add_argument("--served-model-name", default=None, help="name the embedding model answers to (default: --model)")
    p.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable; default: CORS off)")
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")


def run(args) -> int:
    from pathlib import Path

    import uvicorn

    from ..server import ServerSettings, create_app
    from ..server.http import uvicorn_config

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is out of range; accepted: 1..65535 (0 picks a free port)")
    if not (args.model or args.reranker):
        raise ValueError("give --model (an embedding model), --reranker, or both")
    if args.index and args.store:
        raise ValueError("give --index DIR or --store URL, not both")
    args.index = args.index or args.store
    if args.index and not args.model:
        raise ValueError("--index needs --model: the index is searched with the embedding model it was built with")
    api_key = args.api_key
    if args.api_key_file:
        api_key = _read_api_key(Path(args.api_key_file))
    settings = _settings(args, api_key, ServerSettings)  # checked before any model loads
    embedder, reranker, retriever = _load(args)
    app = create_app(embedder, reranker, retriever, settings=settings)
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown: stop accepting, finish in-flight requests
    # (those still running after 30 s are answered 503), then run the app's lifespan shutdown, which
    # drains the batchers.
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level)).run()
    return 0


def _read_api_key(path) -> str:
    """The key on the first line of ``path``: one line naming the file when it is missing, empty or not ASCII."""
    from ..server.settings import api_key_problem

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"--api-key-file {path}: no such file; expected a file whose first line is the API key") from None
    except UnicodeDecodeError:
        raise ValueError(f"--api-key-file {path}: not UTF-8 text; expected the API key, in printable ASCII, on "
                         "the first line") from None
    key = (text.splitlines() or [""])[0].strip()
    if not key:
        what = "is empty" if not text.strip() else "has an empty first line"
        raise ValueError(f"--api-key-file {path} {what}; expected the API key on its first line (printable ASCII, "
                         "e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    problem = api_key_problem(key)
    if problem:
        raise ValueError(f"--api-key-file {path}: {problem}")
    return key


# The settings each flag sets; a settings error is reworded to name the flag the user typed.
FLAGS = {"max_batch_tokens": "--max-batch-tokens", "max_batch_size": "--max-batch-size", "max_wait_ms": "--max-wait-ms",
         "max_queue": "--max-queue", "max_items": "--max-items", "max_input_tokens": "--max-input-tokens",
         "max_request_chars": "--max-request-chars", "max_images": "--max-images", "image_root": "--image-root",
         "header_timeout_s": "--header-timeout", "body_timeout_s": "--body-timeout"}


def _settings(args, api_key, settings_cls):
    if not args.max_body_mb > 0:
        raise ValueError(f"--max-body-mb must be > 0, got {args.max_body_mb}")
    return config_from_flags(
        settings_cls, FLAGS, api_key=api_key, max_batch_tokens=args.max_batch_tokens,
        max_batch_size=args.max_batch_size, batching=not args.no_batching, max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue, max_items=args.max_items, max_body_bytes=max(1, int(args.max_body_mb * 1024 * 1024)),
        max_input_tokens=args.max_input_tokens, max_request_chars=args.max_request_chars, truncate=not args.no_truncate,
        embedding_model_name=args.served_model_name, cors_origins=tuple(args.cors_origin),
        header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout, max_images=args.max_images,
        image_root=_image_root(args.image_root),
    )


def _image_root(path: str | None) -> str | None:
    from pathlib import Path

    if path is None:
        return None
    if not Path(path).is_dir():
        raise ValueError(f"--image-root {path} is not a folder; give the folder whose images clients may name")
    return str(Path(path).resolve())


def _load(args):
    from ..engine import Reranker

    opts = dict(device=args.device, dtype=args.dtype, max_length=args.max_length, quantize=args.quantize,
                allow_special_tokens=args.allow_special_tokens)
    embedder = load_embedder(args.model, **opts) if args.model else None
    reranker = Reranker.load(args.reranker, **opts) if args.reranker else None
    retriever = None
    if args.index:
        from ..stores import Retriever, open_store

        retriever = Retriever(embedder, open_store(args.index), reranker=reranker)
    return embedder, reranker, retriever
