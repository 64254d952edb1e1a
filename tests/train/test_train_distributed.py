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


def _trainer_worker(rank, world, init_file, cfg, out_file):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from q3embed.train.embed_trainer import EmbedTrainer

    losses = EmbedTrainer(cfg).setup().train()
    if rank == 0:
        torch.save(losses, out_file)
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_trainer_matches_single_process(tmp_path, tiny_embedding_dir, toy_train_file, train_overrides):
    """The whole EmbedTrainer under torch.distributed: same losses and same final vectors."""
    import numpy as np

    from q3embed import Embedder
    from q3embed.train.config import load_config
    from q3embed.train.embed_trainer import EmbedTrainer

    def cfg(out):
        return load_config(None, train_overrides(tiny_embedding_dir, out, toy_train_file, "batch_size=8",
                                                 "data.num_negatives=1", "optim.max_steps=3", "optim.lr=1e-3",
                                                 "lora.enabled=true", "lora.rank=4"))

    want = EmbedTrainer(cfg(tmp_path / "single")).setup().train()
    out = tmp_path / "losses.pt"
    mp.spawn(_trainer_worker, args=(2, str(tmp_path / "init"), cfg(tmp_path / "multi"), str(out)), nprocs=2, join=True)
    assert torch.load(out) == pytest.approx(want, abs=1e-5)
    texts = ["a short passage about cats number 0", "snow"]
    a = Embedder.load(tmp_path / "single" / "final", device="cpu").encode(texts)
    b = Embedder.load(tmp_path / "multi" / "final", device="cpu").encode(texts)
    np.testing.assert_allclose(a, b, atol=1e-5)
