"""Synth and filter measurements that can be taken offline (no real LLM here).

1. Throughput and concurrency scaling of `synth` against the fake OpenAI-compatible server
   (tests/synth/fake_llm.py) with a fixed per-request latency: jobs/s vs the ideal.
2. Retries under injected failures: counts, and that every recoverable job is written.
3. Rate limit: requests/s measured against the configured limit.
4. The cosine filter with all-MiniLM-L6-v2 on real SciFact pairs: true (claim, cited
   abstract) pairs from the train qrels vs mismatched pairs (claim, random abstract).

    python bench/synth_bench.py [--out bench/results/synth_filter_hist.png]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "synth"))

from fake_llm import FakeLLM  # noqa: E402

from q3embed.synth.client import RetryPolicy  # noqa: E402
from q3embed.synth.generate import SynthConfig  # noqa: E402
from q3embed.synth.runner import synthesize  # noqa: E402

SCIFACT = ROOT / ".." / "shared" / "data" / "scifact"


def scifact_passages(n: int) -> list[dict]:
    out = []
    with open(SCIFACT / "corpus.jsonl") as f:
        for line in f:
            r = json.loads(line)
            out.append({"_id": r["_id"], "title": r["title"], "text": r["text"][:1500]})
            if len(out) == n:
                break
    return out


def write_corpus(dir_: Path, recs: list[dict]) -> Path:
    path = dir_ / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def run_synth(llm, corpus, out, concurrency, rate_limit=None, retry=RetryPolicy(max_retries=3, backoff_base=0.01)):
    config = SynthConfig(tasks=("retrieval",), answer_retries=2)
    t0 = time.perf_counter()
    report = synthesize(corpus, out, llm.url, llm.model, config, concurrency=concurrency, rate_limit=rate_limit,
                        retry=retry, log=lambda m: None)
    return report, time.perf_counter() - t0


def throughput(tmp: Path) -> None:
    latency = 0.05
    corpus = write_corpus(tmp, scifact_passages(256))
    print(f"## 1. Throughput vs concurrency (fake LLM, {latency * 1000:.0f} ms per request, 256 SciFact passages, "
          "2 requests per job)\n")
    print("| concurrency | jobs/s | ideal jobs/s | ratio to ideal |")
    print("|---:|---:|---:|---:|")
    with FakeLLM(delay=latency) as llm:
        for c in (1, 4, 16, 32):
            out = tmp / f"tp_{c}.jsonl"
            report, secs = run_synth(llm, corpus, out, c)
            jobs = report.counts["written"] + report.counts["duplicate"]
            rate = jobs / secs
            ideal = c / (2 * latency)
            print(f"| {c} | {rate:.1f} | {ideal:.1f} | {rate / ideal:.2f} |")
    print()


def retries(tmp: Path) -> None:
    recs = scifact_passages(100)
    rng = random.Random(0)
    injected = {"@500x1": 20, "@429x2": 10, "@badjsonx1": 10, "@schemax2": 10, "@always500": 5}
    ids = list(range(100))
    rng.shuffle(ids)
    pos = 0
    for marker, k in injected.items():
        for i in ids[pos: pos + k]:
            recs[i]["text"] += " " + marker
        pos += k
    corpus = write_corpus(tmp, recs)
    with FakeLLM() as llm:
        report, secs = run_synth(llm, corpus, tmp / "retry.jsonl", 8)
    c = report.counts.as_dict()
    print("## 2. Retries under injected failures (100 passages, retrieval, max_retries=3, answer_retries=2)\n")
    print("Injected per passage (both steps): " + ", ".join(f"{m} on {k}" for m, k in injected.items()) + "\n")
    print("| counter | value |")
    print("|---|---:|")
    for k, v in c.items():
        print(f"| {k} | {v} |")
    print(f"\n{c['written']} of 100 written; {c['gave_up']} gave up (the 5 `@always500` passages are unrecoverable "
          f"by design); wall {secs:.2f} s.\n")


def rate_limit(tmp: Path) -> None:
    corpus = write_corpus(tmp, scifact_passages(40))
    print("## 3. Rate limit (40 jobs = 80 requests, concurrency 16)\n")
    print("| limit (req/s) | measured (req/s) |")
    print("|---:|---:|")
    with FakeLLM() as llm:
        for limit in (10.0, 40.0):
            llm.requests.clear()
            report, secs = run_synth(llm, corpus, tmp / f"rl_{limit}.jsonl", 16, rate_limit=limit)
            print(f"| {limit:.0f} | {report.counts['requests'] / secs:.1f} |")
    print()


def filter_scifact(png: Path | None) -> None:
    import numpy as np

    from q3embed import Embedder
    from q3embed.eval import load_beir
    from q3embed.synth.filter import histogram_png, pair_scores, select_pairs, text_histogram

    corpus, queries, qrels = load_beir(SCIFACT, "train")
    true_pairs = [{"query": queries[q], "pos": corpus[d]} for q, rel in qrels.items() for d, s in rel.items() if s > 0]
    rng = random.Random(0)
    doc_ids = list(corpus)
    wrong_pairs = [{"query": p["query"], "pos": corpus[rng.choice(doc_ids)]} for p in true_pairs]
    emb = Embedder.load("minilm", device="cpu", dtype="float32")
    t0 = time.perf_counter()
    s_true = pair_scores(emb, true_pairs, batch_size=64)
    s_wrong = pair_scores(emb, wrong_pairs, batch_size=64)
    secs = time.perf_counter() - t0
    print(f"## 4. Cosine filter, all-MiniLM-L6-v2, SciFact train qrels ({len(true_pairs)} true pairs, "
          f"{len(wrong_pairs)} mismatched)\n")
    print(f"Scoring {2 * len(true_pairs)} pairs took {secs:.1f} s on CPU.\n")
    print("| threshold | true pairs kept | mismatched pairs kept |")
    print("|---:|---:|---:|")
    for t in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        kt = select_pairs(true_pairs, s_true, t).n_kept
        kw = select_pairs(wrong_pairs, s_wrong, t).n_kept
        print(f"| {t} | {kt} ({100 * kt / len(true_pairs):.1f}%) | {kw} ({100 * kw / len(wrong_pairs):.1f}%) |")
    print(f"\ncosine of true pairs: mean {s_true.mean():.3f}, median {np.median(s_true):.3f}; "
          f"mismatched: mean {s_wrong.mean():.3f}, median {np.median(s_wrong):.3f}\n")
    print("Histogram of the true pairs (threshold 0.7):\n\n```\n" + text_histogram(s_true, 0.7) + "\n```\n")
    if png:
        histogram_png(s_true, 0.7, png, title="SciFact train pairs, all-MiniLM-L6-v2")
        print(f"PNG: `{png.relative_to(ROOT) if png.is_absolute() else png}`\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="write the filter histogram PNG here")
    ap.add_argument("--skip-filter", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        throughput(tmp)
        retries(tmp)
        rate_limit(tmp)
    if not args.skip_filter:
        filter_scifact(args.out.resolve() if args.out else None)


if __name__ == "__main__":
    main()
