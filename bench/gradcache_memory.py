"""Peak memory of one contrastive training step, with and without GradCache, as the batch grows.

    python -m bench.gradcache_memory [--batches 32,128,512] [--chunk 32] [--tokens 32] [--shape tiny]

Each (mode, batch) runs in a fresh subprocess on CPU. Just before the step (model loaded, texts
tokenised) the process's peak-RSS mark is reset (Linux ``/proc/self/clear_refs``); the figure is
the peak during the step minus the RSS at its start, i.e. what the step itself needed. A step is:
queries + positives + 1 hard negative per query through a random Qwen3 (the genuine vocabulary),
the paper's InfoNCE, backward. The random checkpoint is built once in --work.
"""

from __future__ import annotations

import json
import subprocess
import sys

from bench import harness

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(1)
from q3embed import Embedder
from q3embed.train.encoding import EmbeddingForward
from q3embed.train.gradcache import gradcache_step, plain_step
from q3embed.train.losses import InfoNCELoss
model_dir, mode, batch, chunk, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
emb = Embedder.load(model_dir, device="cpu", dtype="float32")
emb.model.embed_tokens.weight.requires_grad_(False)  # a (V, H) dense gradient would dwarf the activations
model = emb.model.train()
enc = EmbeddingForward(model, "lasttoken", emb.pad_id, torch.device("cpu"))
row = list(range(1000, 1000 + tokens - 1)) + [151643]
groups = [[row] * batch, [row[::-1]] * batch, [row[1:] + [151643]] * batch]
loss = InfoNCELoss(temperature=0.05)
fn = lambda q, p, n: loss(q, p, n.view(batch, 1, -1))
def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS: measure the step only
rss_before = status_kib("VmRSS")
t0 = time.perf_counter()
if mode == "gradcache":
    gradcache_step(enc, groups, fn, chunk, torch.device("cpu"))
else:
    plain_step(enc, groups, fn)
sec = time.perf_counter() - t0
peak = status_kib("VmHWM")
print(json.dumps({"mode": mode, "batch": batch, "step_mib": round((peak - rss_before) / 1024, 1),
                  "peak_rss_mib": round(peak / 1024, 1), "seconds": round(sec, 2)}))
"""


def main() -> int:
    ap = harness.parser("gradcache_memory", __doc__)
    ap.add_argument("--batches", default="32,128,512", help="queries per step, comma-separated")
    ap.add_argument("--chunk", type=int, default=32, help="GradCache chunk (texts per forward)")
    ap.add_argument("--tokens", type=int, default=32, help="tokens per text")
    ap.add_argument("--shape", default="tiny", help="random Qwen3 shape: tiny or 0.6B")
    ap.add_argument("--modes", default="gradcache,plain", help="comma-separated subset of gradcache,plain")
    args = harness.setup(ap.parse_args())
    from q3embed.model.tiny import save_tiny_qwen3

    overrides = {} if args.shape != "tiny" else dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                                                     num_attention_heads=4, num_key_value_heads=2, head_dim=32)
    model_dir = args.work / f"embedding-{args.shape}"
    if not (model_dir / "config.json").exists():
        save_tiny_qwen3(model_dir, kind="embedding", shape=args.shape, **overrides)
    rows = []
    for mode in args.modes.split(","):
        for b in [int(x) for x in args.batches.split(",")]:
            out = subprocess.run([sys.executable, "-c", CHILD, str(model_dir), mode, str(b), str(args.chunk),
                                  str(args.tokens)], capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("\n" + harness.markdown_table(rows))
    biggest = max(int(x) for x in args.batches.split(","))
    by = {(r["mode"], r["batch"]): r["step_mib"] for r in rows}
    figures = {}
    if ("plain", biggest) in by and ("gradcache", biggest) in by:
        figures[f"step memory plain / gradcache at batch {biggest}"] = round(
            harness.ratio(by[("plain", biggest)], by[("gradcache", biggest)]), 2)
    harness.finish(args, figures, dtype="float32", rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
