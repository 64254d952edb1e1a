"""``q3embed index build --ray``: the Ray options and the run (kept apart from cli/index.py)."""

from __future__ import annotations

import argparse


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

    try:
        import ray  # noqa: F401
    except ImportError:
        raise ValueError("--ray needs Ray: pip install 'q3embed[ray]'") from None
    from ..distributed import RayBuildConfig, build_on_ray
    from ..distributed.errors import user_error

    config = RayBuildConfig(address=args.ray or None, workers=args.workers, gpus_per_worker=args.gpus_per_worker,
                            cpus_per_worker=args.cpus_per_worker, docs_per_batch=args.docs_per_task,
                            part_rows=args.commit_every)
    try:
        index = build_on_ray(args.store or args.out, args.corpus, args.model, config=config, dim=args.dim,
                             dtype=args.storage_dtype,
                             instruction=args.instruction, chunk_tokens=args.chunk_tokens,
                             chunk_overlap=args.chunk_overlap, device=args.device, torch_dtype=args.dtype,
                             max_length=args.max_length, batch_size=args.batch_size, overwrite=args.overwrite,
                             resume=args.resume)
    except Exception as e:  # errors raised inside Ray workers come back wrapped; show the user's cause
        raise ValueError(str(user_error(e))) from None
    print(f"built {index}", file=sys.stderr)
    return 0
