"""GradCache: contrastive steps whose memory does not grow with the batch.

A contrastive loss couples every embedding in the batch, so the batch cannot simply be split
into gradient-accumulation pieces. GradCache (Gao et al., 2021) splits the step in three:

1. embed every chunk without a graph (memory: one chunk's activations at a time);
2. compute the loss on the detached embeddings and backpropagate to them only, which gives
   dL/d(embedding) for the whole batch at the cost of (N, H) floats;
3. re-embed each chunk with a graph and backpropagate dL/d(embedding) into the weights.

Step 3 replays each chunk with the RNG state of step 1, so dropout masks match and the
gradients equal the un-chunked step's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def _chunks(rows: Sequence, size: int) -> list[Sequence]:
    return [rows[i: i + size] for i in range(0, len(rows), size)]


def _rng_state(device: torch.device):
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def _set_rng_state(state, device: torch.device) -> None:
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


def plain_step(encode: Callable[[list], torch.Tensor], groups: Sequence[list], loss_fn: Callable[..., torch.Tensor]) -> torch.Tensor:
    """Reference step: one forward per group with a graph, then one backward. Returns the loss."""
    reps = [encode(list(g)) if len(g) else None for g in groups]
    loss = loss_fn(*reps)
    loss.backward()
    return loss.detach()


def gradcache_step(encode: Callable[[list], torch.Tensor], groups: Sequence[list], loss_fn: Callable[..., torch.Tensor],
                   chunk_size: int, device: torch.device) -> torch.Tensor:
    """One GradCache step. ``groups``: lists of inputs (e.g. query rows, positive rows, negative rows);
    ``loss_fn(*embeddings)`` gets one (len(group), H) tensor per group (None for an empty group).
    Gradients accumulate into the model's ``.grad``; returns the detached loss.
    """
    # 1. Embed without a graph, remembering the RNG state in front of each chunk.
    states, cached = [], []
    with torch.no_grad():
        for g in groups:
            parts, st = [], []
            for chunk in _chunks(list(g), chunk_size):
                st.append(_rng_state(device))
                parts.append(encode(list(chunk)))
            states.append(st)
            cached.append(torch.cat(parts).detach().requires_grad_() if parts else None)

    # 2. Loss on the cached embeddings; backward stops at them.
    loss = loss_fn(*cached)
    loss.backward()
    rng_after = _rng_state(device)

    # 3. Replay each chunk with a graph and push the cached gradient into the weights.
    for g, st, reps in zip(groups, states, cached):
        if reps is None or reps.grad is None:
            continue
        start = 0
        for chunk, state in zip(_chunks(list(g), chunk_size), st):
            _set_rng_state(state, device)
            emb = encode(list(chunk))  # (c, H)
            grad = reps.grad[start: start + len(chunk)]  # (c, H)
            emb.backward(gradient=grad)
            start += len(chunk)
    _set_rng_state(rng_after, device)  # leave the RNG where an un-chunked step would have it
    return loss.detach()
