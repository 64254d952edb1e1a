"""Two CPU processes (gloo): gathered negatives with local gradients give the single-process gradient."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from q3embed.train.distributed import all_reduce_gradients, gather_ids, gather_with_grad
from q3embed.train.losses import InfoNCELoss

N, K, D, H = 8, 2, 12, 6


def make_batch():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(N, D, generator=g), torch.randn(N, D, generator=g), torch.randn(N, K, D, generator=g),
            torch.arange(N) + 100, torch.arange(N * K).view(N, K) + 1000)


def make_encoder():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, H))


def step(encoder, q, p, n, pk, nk):
    loss = InfoNCELoss(temperature=0.1)
    qe, pe, ne = gather_with_grad(encoder(q)), gather_with_grad(encoder(p)), gather_with_grad(encoder(n))
    value = loss(qe, pe, ne, pos_keys=gather_ids(pk), neg_keys=gather_ids(nk))
    value.backward()
    all_reduce_gradients(encoder)
    return value.item(), [prm.grad.clone() for prm in encoder.parameters()]


def _worker(rank, world, init_file, out_file):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    q, p, n, pk, nk = make_batch()
    share = slice(rank * N // world, (rank + 1) * N // world)  # contiguous shares, in rank order
    loss, grads = step(make_encoder(), q[share], p[share], n[share], pk[share], nk[share])
    if rank == 0:
        torch.save({"loss": loss, "grads": grads}, out_file)
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gather_matches_single_process(tmp_path):
    want_loss, want_grads = step(make_encoder(), *make_batch())
    out = tmp_path / "rank0.pt"
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    got = torch.load(out)
    assert got["loss"] == pytest.approx(want_loss, abs=1e-6)
    for g, w in zip(got["grads"], want_grads):
        torch.testing.assert_close(g, w, atol=1e-6, rtol=1e-5)


def test_gather_is_identity_without_process_group():
    x = torch.randn(3, 4, requires_grad=True)
    assert gather_with_grad(x) is x
