"""Two gloo processes: which all-gather (and which gradient reduction) gives the single-process gradient?

The loss is the paper's InfoNCE over the global batch (queries, positives, hard negatives of both
processes), as in ``EmbedTrainer``. Each variant runs one step in two processes and compares the
summed-or-averaged parameter gradients with one process computing the same loss on the whole batch.
Prints the largest error (next to the largest reference entry) and, per parameter, the projection
ratio <g, ref> / <ref, ref> (1.0 = equal, 2.0 = the world size too many).

    PYTHONPATH=src python bench/gather_gradients.py
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
import torch.distributed.nn.functional as dist_nn
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))
from test_train_distributed import N, make_batch, make_encoder  # noqa: E402

from q3embed.train.distributed import gather_ids  # noqa: E402
from q3embed.train.losses import InfoNCELoss  # noqa: E402

WORLD = 2


def local_slice_gather(x):
    """The hand-written gather q3embed had: the other ranks' rows arrive without a graph."""
    parts = [torch.empty_like(x) for _ in range(WORLD)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[dist.get_rank()] = x
    return torch.cat(parts)


def nn_functional_gather(x):
    """torch.distributed.nn.functional.all_gather (deprecated in 2.13)."""
    return torch.cat(dist_nn.all_gather(x.contiguous()))


def funcol_gather(x):
    """torch's functional autograd all-gather (what q3embed.train.distributed uses)."""
    gather = getattr(funcol, "all_gather_single_autograd", None) or funcol.all_gather_tensor_autograd
    return funcol.wait_tensor(gather(x.contiguous(), 0, dist.group.WORLD))


VARIANTS = [  # (name, gather, reduction of the parameter gradients over processes)
    ("hand-written local-slice gather + SUM", local_slice_gather, "sum"),
    ("torch.distributed.nn.functional + SUM", nn_functional_gather, "sum"),
    ("torch.distributed.nn.functional + MEAN", nn_functional_gather, "mean"),
    ("funcol all_gather autograd + SUM", funcol_gather, "sum"),
    ("funcol all_gather autograd + MEAN", funcol_gather, "mean"),
]


def step(gather, q, p, n, pk, nk, reduction):
    enc = make_encoder()
    loss = InfoNCELoss(temperature=0.1)
    value = loss(gather(enc(q)), gather(enc(p)), gather(enc(n)), pos_keys=gather_ids(pk), neg_keys=gather_ids(nk))
    value.backward()
    grads = [prm.grad.clone() for prm in enc.parameters()]
    if dist.is_initialized():
        for g in grads:
            dist.all_reduce(g)
            if reduction == "mean":
                g /= WORLD
    return value.item(), grads


def worker(rank, init, out):
    warnings.simplefilter("ignore", FutureWarning)  # the deprecated API is measured on purpose
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=WORLD)
    q, p, n, pk, nk = make_batch()
    share = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
    results = {name: step(g, q[share], p[share], n[share], pk[share], nk[share], red) for name, g, red in VARIANTS}
    if rank == 0:
        torch.save(results, out)
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    want_loss, want = step(lambda x: x, *make_batch(), "sum")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.pt"
        mp.spawn(worker, args=(str(Path(tmp) / "init"), str(out)), nprocs=WORLD, join=True)
        results = torch.load(out)
    top = max(w.abs().max().item() for w in want)
    print(f"torch {torch.__version__}, gloo, {WORLD} processes; reference: 1 process, loss {want_loss:.6f}, "
          f"largest gradient entry {top:.3g}")
    for name, (loss, grads) in results.items():
        err = max((g - w).abs().max().item() for g, w in zip(grads, want))
        ratio = [round((g.flatten() @ w.flatten() / (w.flatten() @ w.flatten())).item(), 4) for g, w in zip(grads, want)]
        print(f"{name:40s} loss {loss:.6f}  max |g - ref| {err:.3g}  <g,ref>/<ref,ref> {ratio}")


if __name__ == "__main__":
    main()
