"""``q3embed train embed|rerank --config cfg.yaml [key=value ...]``."""

from __future__ import annotations

from ._common import add_verb

EXAMPLE = """
example:
  q3embed train embed --config recipes/scifact-minilm.yaml optim.lr=5e-5 loss.temperature=0.02
  q3embed train rerank --config my-reranker.yaml model=Qwen/Qwen3-Reranker-0.6B data.train_file=mined.jsonl --check

Overrides use dotted keys (section.key=value); values are read as YAML. Unknown keys, wrong
types, a missing training file or an impossible batch are reported before training starts.
A run resumes from the newest complete checkpoint in output_dir (resume=false to start over).
"""


def register(sub) -> None:
    p = add_verb(sub, "train", _usage, "fine-tune an embedding model or a reranker (the paper's recipe)",
                 "Fine-tune with the Qwen3 Embedding paper's objectives." + EXAMPLE)
    kinds = p.add_subparsers(dest="train_kind", metavar="KIND")
    for kind, help_text in (("embed", "embedding model: InfoNCE with hard negatives, in-batch terms, mask, MRL"),
                            ("rerank", "reranker: cross-entropy of the yes/no label token")):
        k = kinds.add_parser(kind, help=help_text, description=help_text + EXAMPLE,
                             formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
        k.add_argument("--config", default=None, help="YAML config (e.g. recipes/scifact-minilm.yaml; keys in docs/train.md)")
        k.add_argument("--check", action="store_true", help="validate config and data, load the model, then stop")
        k.add_argument("overrides", nargs="*", help="key=value overrides, e.g. optim.lr=1e-4 lora.enabled=true")
        k.set_defaults(func=run, train_kind=kind)


def _usage(args) -> int:
    raise ValueError("choose what to train: `q3embed train embed ...` or `q3embed train rerank ...`")


def run(args) -> int:
    import sys

    from ..train.config import load_config

    cfg = load_config(args.config, args.overrides, kind=args.train_kind)
    if args.train_kind == "embed":
        from ..train.embed_trainer import EmbedTrainer as cls
    else:
        from ..train.rerank_trainer import RerankTrainer as cls
    _init_distributed()
    trainer = cls(cfg).setup()
    if args.check:
        print(f"config OK: {trainer.total_steps} steps of {cfg.batch_size}, model {cfg.model}", file=sys.stderr)
        return 0
    if trainer.resumed_from is not None:
        print(f"resuming from {trainer.resumed_from} (step {trainer.step})", file=sys.stderr)
    trainer.train()
    trainer.cleanup()
    print(f"done: {trainer.total_steps} steps; final model in {cfg.output_dir}/final", file=sys.stderr)
    return 0


def _init_distributed() -> None:
    """Join the process group when launched by torchrun (it sets WORLD_SIZE etc. for us)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch
        import torch.distributed as dist

        if torch.cuda.is_available():  # one GPU per process: "cuda" then means this rank's device
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
