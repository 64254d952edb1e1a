"""Pieces the SciFact bench scripts share: data paths, mining, training, fp32 evaluation, the results log.

Used by ``merge_robustness.py`` and ``recipe_pipeline.py``. Every
long step is resumable: ``mine`` skips a written file, ``train`` continues from the newest
checkpoint (the trainer's own resume), evaluations go through the embedding cache (flushed
while embedding), and ``Results`` is an append-only JSONL whose rows are skipped on rerun.
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import harness
from bench.harness import REPO

RECIPE = REPO / "recipes" / "scifact-minilm.yaml"
BASE_PUBLISHED = {"scifact_ndcg_at_10": 64.51, "stsb_spearman": 82.03}  # all-MiniLM-L6-v2, MTEB
CLI = [sys.executable, "-c", "import sys; from q3embed.cli import main; sys.exit(main(sys.argv[1:]))"]


@dataclass(frozen=True)
class SciFactData:
    """The three inputs of the SciFact benchmarks: the BEIR folder and STSB's dev and test CSVs."""

    scifact: Path
    sts_dev: Path
    sts_test: Path

    @classmethod
    def from_args(cls, args) -> "SciFactData":
        """``--data``'s scifact/ and stsb/ (as ``q3embed data fetch scifact stsb`` writes them), or one line saying how."""
        scifact, stsb = harness.data_path(args, "scifact"), harness.data_path(args, "stsb")
        return cls(scifact, stsb / "stsb-en-dev.csv", stsb / "stsb-en-test.csv")


def run_cli(args: list[str]) -> None:
    """Run a ``q3embed`` verb in a child process (its own memory; a failure stops the bench)."""
    print("$ q3embed " + " ".join(args), flush=True)
    subprocess.run([*CLI, *args], check=True)


def mine(out: Path, qrels: Path, data: Path, dtype: str = "float32", cache_dir: Path | None = None,
         model: str = "minilm") -> Path:
    """``q3embed mine`` hard negatives (ranks 5-50, 7 per query) for the queries of ``qrels``; skipped if written.

    With the evaluation's dtype and cache directory the corpus embedding is the base model's
    test evaluation, so mining costs only the query encodes.
    """
    if out.exists():
        return out
    args = ["mine", "--model", model, "--device", "cpu", "--dtype", dtype, "--corpus", str(data / "corpus.jsonl"),
            "--queries", str(data / "queries.jsonl"), "--qrels", str(qrels), "--out", str(out),
            "--range", "5-50", "--num-neg", "7"]
    run_cli(args + (["--cache-dir", str(cache_dir)] if cache_dir else []))
    return out


def train(out: Path, train_file: Path, overrides: list[str] = (), recipe: Path = RECIPE) -> dict:
    """Train with ``recipe`` into ``out`` (resumes from its newest checkpoint); {"cpu_s", "wall_s"} of this call."""
    from q3embed.train.config import load_config
    from q3embed.train.embed_trainer import EmbedTrainer

    if (out / "final" / "config.json").exists():
        return {"cpu_s": 0.0, "wall_s": 0.0}
    cfg = load_config(recipe, [f"output_dir={out}", f"data.train_file={train_file}", *overrides], kind="embed")
    with timed() as cost:
        trainer = EmbedTrainer(cfg).setup()
        trainer.train()
        trainer.cleanup()
    print(f"trained {out} in {cost['wall_s']:.0f} s wall, {cost['cpu_s']:.0f} CPU-s", flush=True)
    return cost


def write_table(lines: list[str], out: Path, name: str) -> str:
    """Write a report's lines as ``out/name`` (Markdown) and return the text."""
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(text)
    return text


@contextmanager
def timed():
    """Yields a dict that gets ``wall_s``, ``cpu_s`` (this process, all threads) and the 1-min load average."""
    cost: dict = {}
    w0, c0 = time.perf_counter(), time.process_time()
    try:
        yield cost
    finally:
        cost.update(wall_s=round(time.perf_counter() - w0, 1), cpu_s=round(time.process_time() - c0, 1),
                    load_1m=round(os.getloadavg()[0], 2))


class Evaluator:
    """fp32 CPU scores of a checkpoint directory, through one embedding cache.

    ``test``: SciFact test nDCG@10 and STSB test Spearman (x100). ``validation``: nDCG@10 of the
    carved validation queries on the validation sub-corpus and STS dev Spearman (x100), and their
    weighted sum ``objective`` (``q3embed.merge.objective.weighted_objective``, as ``merge search``).
    """

    def __init__(self, cache_dir: Path, data: Path, sts_dev: Path, sts_test: Path,
                 val_data: Path | None = None, val_split: str = "train-val", sts_weight: float = 0.5,
                 dtype: str = "float32", batch_size: int = 32):
        self.cache_dir, self.data, self.sts_dev, self.sts_test = cache_dir, data, sts_dev, sts_test
        self.val_data, self.val_split, self.sts_weight = val_data, val_split, sts_weight
        self.dtype, self.batch_size = dtype, batch_size

    def _scores(self, task: str, data, split: str = "test", path=None) -> float:
        from q3embed.merge.search import evaluator

        fn = evaluator(task, data, split=split, device="cpu", dtype=self.dtype, batch_size=self.batch_size,
                       cache_dir=self.cache_dir, show_progress=True)
        score = 100.0 * float(fn(Path(path))["main_score"])
        gc.collect()
        return score

    def test(self, path) -> dict:
        with timed() as cost:
            row = {"scifact_ndcg_at_10": round(self._scores("retrieval", self.data, "test", path), 2),
                   "stsb_spearman": round(self._scores("sts", self.sts_test, path=path), 2)}
        return {**row, **cost, "dtype": self.dtype}

    def validation(self, path) -> dict:
        if self.val_data is None:
            raise ValueError("this evaluator has no validation data")
        with timed() as cost:
            ndcg = self._scores("retrieval", self.val_data, self.val_split, path)
            sts = self._scores("sts", self.sts_dev, path=path)
        return {"val_ndcg_at_10": round(ndcg, 2), "sts_dev_spearman": round(sts, 2),
                "objective": round(objective(ndcg, sts, self.sts_weight), 3), **cost, "dtype": self.dtype}


def objective(val_ndcg: float, sts_dev: float, sts_weight: float) -> float:
    """The validation objective of ``q3embed merge search --val-data --sts-dev --sts-weight``."""
    return (1.0 - sts_weight) * val_ndcg + sts_weight * sts_dev


class Results:
    """Append-only JSONL of result rows keyed by (kind, label); a row written is never recomputed."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def rows(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by kill -9: that row is simply redone
                continue
        return out

    def get(self, kind: str, label: str) -> dict | None:
        for r in self.rows():
            if r.get("kind") == kind and r.get("label") == label:
                return r
        return None

    def record(self, row: dict) -> dict:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        print(json.dumps(row), flush=True)
        return row

    def once(self, kind: str, label: str, compute, **extra) -> dict:
        """The row (kind, label): from the log, or ``compute()`` merged with ``extra`` and recorded."""
        have = self.get(kind, label)
        if have is not None:
            return have
        print(f"[{time.strftime('%H:%M:%S')}] {kind}: {label}", flush=True)
        return self.record({"kind": kind, "label": label, **extra, **compute()})


def smoke_data(root: Path, source: SciFactData, n_train: int = 40, n_test: int = 12, n_docs: int = 150, n_sts: int = 40,
               seed: int = 0) -> tuple[Path, Path, Path]:
    """A tiny SciFact (some train and test queries, their positives and random docs) and tiny STS dev/test CSVs.

    For ``--smoke`` runs: the same code path in a minute or two. Returns (beir dir, sts dev, sts test).
    """
    beir, dev, test = root / "scifact", root / "stsb-dev.csv", root / "stsb-test.csv"
    if (beir / "qrels" / "test.tsv").exists() and dev.exists() and test.exists():
        return beir, dev, test
    rng = random.Random(seed)
    (beir / "qrels").mkdir(parents=True, exist_ok=True)
    keep_docs: set[str] = set()
    keep_q: set[str] = set()
    for split, n in (("train", n_train), ("test", n_test)):
        lines = (source.scifact / "qrels" / f"{split}.tsv").read_text().splitlines()
        qids = sorted({ln.split("\t")[0] for ln in lines[1:] if ln.strip()})
        chosen = set(rng.sample(qids, n))
        body = [ln for ln in lines[1:] if ln.split("\t")[0] in chosen]
        keep_q |= chosen
        keep_docs |= {ln.split("\t")[1] for ln in body}
        (beir / "qrels" / f"{split}.tsv").write_text("\n".join([lines[0], *body]) + "\n")
    corpus = [ln for ln in (source.scifact / "corpus.jsonl").read_text().splitlines() if ln.strip()]
    ids = [str(json.loads(ln)["_id"]) for ln in corpus]
    keep_docs |= set(rng.sample(sorted(set(ids) - keep_docs), n_docs))
    (beir / "corpus.jsonl").write_text("".join(ln + "\n" for ln, i in zip(corpus, ids) if i in keep_docs))
    queries = [ln for ln in (source.scifact / "queries.jsonl").read_text().splitlines() if ln.strip()]
    (beir / "queries.jsonl").write_text("".join(ln + "\n" for ln in queries if str(json.loads(ln)["_id"]) in keep_q))
    for src, dst in ((source.sts_dev, dev), (source.sts_test, test)):
        lines = src.read_text().splitlines()
        dst.write_text("\n".join(lines[: n_sts + 1]) + "\n")
    return beir, dev, test
