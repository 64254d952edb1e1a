"""CPU attention alone: the per-row loop vs the padded path at several _PAD_FACTOR values (issue 16).

Records the attention plans Reranker.score_pairs builds on rerank_throughput's 1 x 100 (0.6B shape,
bf16 q/k/v of those shapes, 1 thread) and times _attend_loop vs _attend_padded per layer, CPU s.

    cd bench && PYTHONPATH=../src python attention_padded_probe.py --cache /work/wt/bench16/bench/.cache
"""
import sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(1)
import argparse
from engine_common import DEFAULT_CACHE, lognormal_lengths, make_texts, model_dir
from rerank_throughput import load_queries
from pathlib import Path
from transformers import AutoTokenizer
from q3embed import Reranker
from q3embed.runtime import fast_qwen3 as fq
from q3embed.runtime.fast_qwen3 import PackedQwen3, _AttentionPlan, PrefixCache
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
path = model_dir(ap.parse_args().cache, "reranker")
tok = AutoTokenizer.from_pretrained(path)
docs = make_texts(tok, lognormal_lengths(100, 16, 128, seed=3, median=48), None)
r = Reranker.load(path)
plans = []
orig = _AttentionPlan.__init__
def rec(self, batch, prefix, device, varlen):
    orig(self, batch, prefix, device, varlen); plans.append((batch, prefix))
_AttentionPlan.__init__ = rec
r.score_pairs([(load_queries(1, None)[0], d) for d in docs])
_AttentionPlan.__init__ = orig
print("plans", len(plans), [(len(b.lengths), b.prefix_group[:1], p is not None) for b, p in plans])
nh, kv, hd, dt = 16, 8, 128, torch.bfloat16
f = object.__new__(PackedQwen3); f.n_heads, f.n_kv, f.head_dim, f.scale, f._varlen = nh, kv, hd, hd**-0.5, None
def t(fn, reps=3):
    fn(); c = time.process_time()
    for _ in range(reps): fn()
    return (time.process_time() - c) / reps
res = {}
with torch.inference_mode():
    for batch, prefix in plans:
        n = batch.input_ids.shape[0]
        pk = pv = None
        if prefix is not None:
            np_ = prefix.offsets[-1]; pk = torch.randn(np_, kv, hd, dtype=dt); pv = torch.randn(np_, kv, hd, dtype=dt)
            prefix = PrefixCache([pk], [pv], prefix.offsets)
        q = torch.randn(n, nh, hd, dtype=dt); k = torch.randn(n, kv, hd, dtype=dt); v = torch.randn(n, kv, hd, dtype=dt)
        plan = _AttentionPlan(batch, prefix, torch.device("cpu"), varlen=False)
        res.setdefault("loop", 0.0); res["loop"] += t(lambda: f._attend_loop(q, k, v, pk, pv, plan, False))
        for fac in [1.1, 1.25, 1.5, 2.0, 3.0, float("inf")]:
            fq._PAD_FACTOR = fac
            pb = fq._padded_buckets(plan, False, torch.device("cpu"))
            res.setdefault(fac, [0.0, 0]); res[fac][0] += t(lambda: f._attend_padded(q, k, v, pk, pv, pb)); res[fac][1] += len(pb.buckets)
print("per layer, all batches, CPU s:", {k: (round(v, 4) if isinstance(v, float) else (round(v[0], 4), v[1])) for k, v in res.items()})
