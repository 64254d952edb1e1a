"""torch.distributed helpers: negatives that cross processes, gradients that add up.

Each process embeds its share of the batch. ``gather_with_grad`` is torch's autograd all-gather:
every process gets the embeddings of the whole (global) batch, and every process computes the same
loss L over it. In backward, torch reduce-scatters (sums) the gradient each process computed for a
slice back to the process that owns it, so a process's local embeddings receive ``world * dL/dx``
(every process's copy of L contributes once). ``all_reduce_gradients`` then *averages* the
parameter gradients, as DDP does: ``(1/world) * sum_r world * dL/dθ_r = dL/dθ``, exactly the
single-process gradient of the global batch (tests/train/test_train_distributed.py).

Why not ``torch.distributed.nn.functional.all_gather``: it is deprecated in torch 2.13, and on gloo
its backward (an all-to-all built from ``scatter``) writes into ``empty_like`` buffers that keep a
non-contiguous gradient's strides, so the gradient of the hard negatives ((N, K, H), whose gradient
arrives transposed from the score matmul) came back scrambled: 3.41 max error against a largest
gradient entry of 2.83 in the two-process test, scaled or not (docs/benchmarks.md, "Settled findings").
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol

# torch >= 2.13 names it all_gather_single_autograd (and warns on the old name); 2.4 to 2.12 have the old one.
_all_gather = getattr(funcol, "all_gather_single_autograd", None) or funcol.all_gather_tensor_autograd


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without torch.distributed."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) per process -> (world * n, ...) in rank order. Backward sums every process's gradient
    for the local rows into them; pair it with ``all_reduce_gradients`` (mean), never with a sum."""
    if not is_distributed():
        return x
    return funcol.wait_tensor(_all_gather(x.contiguous(), 0, dist.group.WORLD))


def gather_ids(x: torch.Tensor) -> torch.Tensor:
    """all_gather for tensors that need no gradient (text ids)."""
    return gather_with_grad(x)


def all_reduce_gradients(model: torch.nn.Module) -> None:
    """Average ``.grad`` of trainable parameters over processes, as DDP does (see the module docstring).
    Each process's loss is the mean over its rows (or, through ``gather_with_grad``, the global loss)."""
    if not is_distributed():
        return
    size = world()[1]
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # gloo has no AVG
            p.grad.div_(size)


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world()[1]


def barrier() -> None:
    if is_distributed():
        dist.barrier()
