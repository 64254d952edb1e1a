"""Training tokens/s on the Qwen3-0.6B shape: q3embed's packed forward against the padded path and sentence-transformers.

    nice -n 10 python -m bench.train_throughput [--layers 28] [--batch 4] [--steps 2] [--threads 1]

One process, one random Qwen3-Embedding with the 0.6B shape (28 layers, hidden 1024, 16/8
heads, FFN 3072, the genuine 151,669-token vocabulary), fp32 weights and math. Every step is a
batch of ``--batch`` (query, positive, one hard negative) triples of mixed lengths (log-normal
word counts: queries ~12 words, documents ~60), a contrastive loss, backward, AdamW step.

- ``packed``: q3embed's trainer path, ``EmbeddingForward`` on the packed forward
  (``runtime/fast_qwen3.py``) + the paper's InfoNCE;
- ``padded``: the same, with ``EmbeddingForward(packed=False)``: the right-padded transformers
  forward (what encoders such as MiniLM train on);
- ``st-fit``: sentence-transformers' own training loop (``SentenceTransformerTrainer``) with
  ``MultipleNegativesRankingLoss`` on the same (anchor, positive, negative) texts.

Tokens/s counts real (unpadded) tokens of the measured steps: q3embed's token rows for
the first two, the attention masks sentence-transformers fed its model for the third. Time is
the process's CPU time per step (``time.process_time``; with one torch thread this is the
compute, and it holds still on a machine shared with other jobs, where wall-clock time does
not); wall-clock seconds are printed beside it. The first ``--warmup`` steps of each mode are
not measured. The (V, H) token embedding is frozen in
every mode unless ``--train-embeddings`` (its dense gradient and AdamW state would add the
same few seconds per step to each). Ratios are printed against ``padded``.
"""

from __future__ import annotations

import gc
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench import harness

WORDS = ("the of and to in is was for on that with as by at from his her an were are which this be "
         "river model protein cell energy market theory system city music history court water light "
         "signal patient language network structure process growth species chemical election galaxy").split()


def texts(n: int, median_words: int, rng: random.Random, lo: int, hi: int) -> list[str]:
    out = []
    for _ in range(n):
        k = int(min(hi, max(lo, round(math.exp(rng.gauss(math.log(median_words), 0.6))))))
        out.append(" ".join(rng.choice(WORDS) for _ in range(k)))
    return out


def make_triples(steps: int, batch: int, seed: int) -> list[tuple[list[str], list[str], list[str]]]:
    rng = random.Random(seed)
    return [(texts(batch, 12, rng, 3, 48), texts(batch, 60, rng, 12, 300), texts(batch, 60, rng, 12, 300))
            for _ in range(steps)]


def run_q3embed(model_dir: Path, triples, packed: bool, warmup: int, train_embeddings: bool) -> dict:
    from q3embed import Embedder
    from q3embed.train.data import text_key
    from q3embed.train.encoding import EmbeddingForward
    from q3embed.train.gradcache import plain_step
    from q3embed.train.losses import InfoNCELoss

    emb = Embedder.load(model_dir, device="cpu", dtype="float32", max_length=512)
    model = emb.model.train()
    model.embed_tokens.weight.requires_grad_(train_embeddings)
    encode = EmbeddingForward(model, "lasttoken", emb.pad_id, torch.device("cpu"), packed=packed)
    assert encode.packed == packed
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    loss = InfoNCELoss(temperature=0.05)
    tokens = seconds = wall = 0.0
    for i, (q, p, n) in enumerate(triples):
        groups = [emb.tokenize(q), emb.tokenize(p), emb.tokenize(n)]
        keys = torch.tensor([text_key(x) for x in p])
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        plain_step(encode, groups, lambda a, b, c: loss(a, b, c.view(len(q), 1, -1), pos_keys=keys))
        opt.step()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        step_tokens = sum(len(r) for g in groups for r in g)
        padded_tokens = sum(len(g) * max(len(r) for r in g) for g in groups)
        print(f"  {'packed' if packed else 'padded'} step {i}: {cpu:.1f} s CPU ({dt:.1f} s wall), {step_tokens} tokens "
              f"({padded_tokens} with padding){' (warm-up)' if i < warmup else ''}", file=sys.stderr, flush=True)
        if i >= warmup:
            tokens, seconds, wall = tokens + step_tokens, seconds + cpu, wall + dt
    del emb, model, opt, encode
    gc.collect()
    return _result(tokens, seconds, wall)


def _result(tokens, cpu_seconds, wall_seconds) -> dict:
    return {"tokens": int(tokens), "cpu_seconds": round(cpu_seconds, 2), "wall_seconds": round(wall_seconds, 2),
            "tokens_per_cpu_s": round(tokens / cpu_seconds, 2)}


def run_st_fit(model_dir: Path, triples, warmup: int, train_embeddings: bool) -> dict:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.max_seq_length = 512
    for name, p in model.named_parameters():
        if "embed_tokens" in name:
            p.requires_grad_(train_embeddings)
    counted: list[int] = []
    times: list[float] = []  # CPU seconds per step
    walls: list[float] = []

    class CountingMNRL(MultipleNegativesRankingLoss):
        def forward(self, sentence_features, labels):
            counted.append(int(sum(int(f["attention_mask"].sum()) for f in sentence_features)))
            return super().forward(sentence_features, labels)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.process_time() - self.c0)
            walls.append(time.perf_counter() - self.t0)
            print(f"  st-fit step {len(times) - 1}: {times[-1]:.1f} s CPU ({walls[-1]:.1f} s wall), {counted[-1]} tokens"
                  f"{' (warm-up)' if len(times) <= warmup else ''}", file=sys.stderr, flush=True)

    batch = len(triples[0][0])
    data = Dataset.from_dict({"anchor": [x for q, _, _ in triples for x in q],
                              "positive": [x for _, p, _ in triples for x in p],
                              "negative": [x for _, _, n in triples for x in n]})
    with tempfile.TemporaryDirectory() as out:
        args = SentenceTransformerTrainingArguments(
            output_dir=out, per_device_train_batch_size=batch, max_steps=len(triples), learning_rate=1e-5,
            use_cpu=True, report_to="none", save_strategy="no", logging_strategy="no", dataloader_num_workers=0,
            dataloader_drop_last=True, seed=0, disable_tqdm=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                             loss=CountingMNRL(model), callbacks=[StepTimer()])
        trainer.train()
    assert len(counted) == len(times) == len(triples), (len(counted), len(times))
    tokens, seconds, wall = sum(counted[warmup:]), sum(times[warmup:]), sum(walls[warmup:])
    del model, trainer
    gc.collect()
    return _result(tokens, seconds, wall)


def main() -> int:
    ap = harness.parser("train_throughput", __doc__)
    ap.add_argument("--layers", type=int, default=28, help="decoder layers (28 = the real 0.6B depth)")
    ap.add_argument("--batch", type=int, default=4, help="(query, positive, negative) triples per step")
    ap.add_argument("--steps", type=int, default=2, help="measured steps per mode")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured steps first, per mode")
    ap.add_argument("--modes", default="packed,padded,st-fit")
    ap.add_argument("--train-embeddings", action="store_true", help="also train the (V, H) token embedding")
    ap.add_argument("--seed", type=int, default=0)
    args = harness.setup(ap.parse_args())
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - {"packed", "padded", "st-fit"})
    if unknown:
        ap.error(f"--modes: {unknown} not known; accepted: packed, padded, st-fit")

    from q3embed.model.tiny import save_tiny_qwen3

    triples = make_triples(args.warmup + args.steps, args.batch, args.seed)
    results = {}
    model_dir = args.work / f"embedding-0.6B-{args.layers}-layers"
    if not (model_dir / "config.json").exists():
        print(f"writing a random Qwen3-0.6B-shape model ({args.layers} layers, fp32)...", file=sys.stderr, flush=True)
        save_tiny_qwen3(model_dir, kind="embedding", shape="0.6B", num_hidden_layers=args.layers)
    for mode in modes:
        torch.manual_seed(args.seed)
        if mode == "st-fit":
            results[mode] = run_st_fit(model_dir, triples, args.warmup, args.train_embeddings)
        else:
            results[mode] = run_q3embed(model_dir, triples, mode == "packed", args.warmup, args.train_embeddings)
    base = results.get("padded")
    print(f"dtype float32, {args.threads} thread(s), {args.layers} layers, batch {args.batch} triples, "
          f"{args.steps} measured steps (+{args.warmup} warm-up), token embedding "
          f"{'trained' if args.train_embeddings else 'frozen'}")
    for mode, r in results.items():
        ratio = f"  {r['tokens_per_cpu_s'] / base['tokens_per_cpu_s']:.2f}x padded" if base else ""
        print(f"{mode:8s} {r['tokens_per_cpu_s']:10.2f} tokens per CPU second  ({r['tokens']} tokens in "
              f"{r['cpu_seconds']} s CPU, {r['wall_seconds']} s wall){ratio}")
    print(json.dumps({"layers": args.layers, "batch": args.batch, "threads": args.threads, "results": results}))
    figures = {f"tokens per CPU second {m} / padded": round(r["tokens_per_cpu_s"] / base["tokens_per_cpu_s"], 2)
               for m, r in results.items() if base and m != "padded"}
    harness.finish(args, figures, dtype="float32", rows=[{"mode": m, **r} for m, r in results.items()])
    return 0


if __name__ == "__main__":
    sys.exit(main())
