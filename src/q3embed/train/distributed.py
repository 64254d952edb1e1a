"""torch.distributed helpers: negatives that cross processes, gradients that add up.

Each process embeds its share of the batch. ``gather_with_grad`` concatenates every process's
embeddings, keeping the autograd graph for the local slice only (the others arrive as plain
tensors). Every process then computes the same loss over the *global* batch; the local backward
yields the part of dL/dθ that flows through the local embeddings, and summing those parts across
processes (``all_reduce_gradients``, SUM) gives exactly the single-process gradient of the global
batch. This is why the gradients are summed, not averaged as DDP would.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without torch.distributed."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) per process -> (world * n, ...) in rank order; gradients reach the local slice only."""
    if not is_distributed():
        return x
    rank, size = world()
    parts = [torch.empty_like(x) for _ in range(size)]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank] = x  # the local slice keeps its graph
    return torch.cat(parts)


def gather_ids(x: torch.Tensor) -> torch.Tensor:
    """all_gather for tensors that need no gradient (text ids)."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world()[1])]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def all_reduce_gradients(model: torch.nn.Module) -> None:
    """Sum ``.grad`` of trainable parameters over processes (see the module docstring for why SUM)."""
    if not is_distributed():
        return
    for p in model.parameters():
        if p.requires_grad:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world()[1]


def barrier() -> None:
    if is_distributed():
        dist.barrier()
