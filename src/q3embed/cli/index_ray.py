"""``q3embed index build --ray``: the Ray options and the run (kept apart from cli/index.py)."""

from __future__ import annotations

import argparse
import contextlib
import logging


def add_ray_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Ray (embed on a cluster; needs the q3embed[ray] extra)")
    g.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS|auto",
                   help="embed with an actor pool on Ray: no value starts a local cluster (or joins RAY_ADDRESS), "
                        "'auto' joins the running cluster, or give its address (host:6379, ray://host:10001). "
                        "CORPUS may then also be .parquet, or a folder of .jsonl/.parquet shards")
    g.add_argument("--workers", type=int, default=1, help="actors, each holding one model copy (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per actor (default 0: CPU)")
    g.add_argument("--cpus-per-worker", type=float, default=1.0,
                   help="CPUs per actor, also its torch thread count (default 1)")
    g.add_argument("--docs-per-task", type=int, default=256,
                   help="corpus records per actor call; a killed worker redoes at most this many (default 256)")


def run_ray_build(args) -> int:
    import sys

    from .index import summary

    try:
        import ray
        import ray.data  # noqa: F401 - sets up Ray Data's loggers before ray_output_to takes them over
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'q3embed[ray]'") from None
    from ..distributed import RayBuildConfig, build_on_ray
    from ..distributed.errors import user_error

    config = RayBuildConfig(address=args.ray or None, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                            cpus_per_worker=args.cpus_per_worker, docs_per_batch=args.docs_per_task,
                            part_rows=args.commit_every)
    log, debug = ray_log_path(), getattr(args, "debug", False)
    started_here = not ray.is_initialized()
    try:
        with contextlib.nullcontext() if debug else ray_output_to(log):
            try:
                index = build_on_ray(args.store or args.out, args.corpus, args.model, config=config, dim=args.dim,
                                     dtype=args.storage_dtype,
                                     instruction=args.instruction, chunk_tokens=args.chunk_tokens,
                                     chunk_overlap=args.chunk_overlap, device=args.device, torch_dtype=args.dtype,
                                     max_length=args.max_length, batch_size=args.batch_size, overwrite=args.overwrite,
                                     resume=args.resume)
            finally:
                if started_here and ray.is_initialized():  # its shutdown logs too: inside the redirect
                    ray.shutdown()
    except Exception as e:  # errors raised inside Ray workers come back wrapped; show the user's cause
        raise ValueError(f"{user_error(e)}{_see(log, debug)}") from None
    print(f"built {summary(index)}{_see(log, debug)}", file=sys.stderr)
    return 0


def ray_log_path():
    import os
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"q3embed-ray-{os.getpid()}.log"


def _see(log, debug: bool) -> str:
    if debug or not log.exists() or not log.stat().st_size:
        return ""
    return f" (Ray's own log lines: {log}; --debug shows them here)"


@contextlib.contextmanager
def ray_output_to(log):
    """Send what Ray writes to stderr (its C++ core worker logs straight to file descriptor 2, past
    Python) to ``log``; q3embed's own lines, written through ``sys.stderr``, still reach the terminal."""
    import os
    import sys

    sys.stderr.flush()
    terminal = os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 2)
    own = sys.stderr
    if getattr(own, "fileno", None) is not None and _is_fd2(own):  # the real stderr: rebind it to the terminal
        sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1)
    # Ray's Python loggers write to whatever sys.stderr is when they emit: their records go to the log too.
    to_log = logging.FileHandler(log)
    to_log.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in _RAY_LOGGERS]
    kept = {lg: lg.handlers[:] for lg in loggers if lg.handlers}  # Ray Data has handlers of its own
    for lg in kept:
        lg.handlers = [to_log]
    try:
        yield log
    finally:
        for lg, handlers in kept.items():
            lg.handlers = handlers
        to_log.close()
        if sys.stderr is not own:
            sys.stderr.close()
            sys.stderr = own
        os.dup2(terminal, 2)
        os.close(terminal)


_RAY_LOGGERS = ("ray", "ray.data")


def _is_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (OSError, ValueError, AttributeError):  # a captured or in-memory stream
        return False
