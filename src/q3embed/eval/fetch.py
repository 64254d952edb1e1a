"""Fetch standard evaluation sets from the Hugging Face hub into the layouts the evaluators read.

``q3embed data fetch scifact stsb --out data`` writes

    data/scifact/corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv     (BEIR layout)
    data/stsb/stsb-en-{train,dev,test}.csv                              (sentence1,sentence2,score 0..5)

through the ``datasets`` library (MTEB's own copies on the hub, so scores match MTEB's). Recipes
name their data as ``${data_dir}/scifact``; ``data_dir`` defaults to ``data``. Offline, fetching
fails with one line saying so; a folder that is already there is kept (``overwrite`` replaces it).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import Q3EmbedError

DEFAULT_DATA_DIR = "data"


class FetchError(Q3EmbedError):
    pass


@dataclass(frozen=True)
class EvalSet:
    name: str
    task: str      # "retrieval" (BEIR layout) or "sts"
    hub_id: str
    about: str


EVAL_SETS = {s.name: s for s in (
    EvalSet("scifact", "retrieval", "mteb/scifact", "SciFact: 5,183 abstracts, 300 test claims (BEIR)"),
    EvalSet("nfcorpus", "retrieval", "mteb/nfcorpus", "NFCorpus: nutrition and medicine (BEIR)"),
    EvalSet("arguana", "retrieval", "mteb/arguana", "ArguAna: counter-argument retrieval (BEIR)"),
    EvalSet("scidocs", "retrieval", "mteb/scidocs", "SCIDOCS: citation prediction (BEIR)"),
    EvalSet("fiqa", "retrieval", "mteb/fiqa", "FiQA-2018: financial QA (BEIR)"),
    EvalSet("trec-covid", "retrieval", "mteb/trec-covid", "TREC-COVID: COVID-19 literature (BEIR)"),
    EvalSet("stsb", "sts", "mteb/stsbenchmark-sts", "STSBenchmark: 1,379 test pairs scored 0..5"),
    EvalSet("sickr", "sts", "mteb/sickr-sts", "SICK-R: 9,927 pairs scored 1..5"),
)}

Loader = Callable[..., object]  # datasets.load_dataset's signature


def fetch(name: str, out_dir: str | Path = DEFAULT_DATA_DIR, overwrite: bool = False,
          load_dataset: Loader | None = None) -> Path:
    """Write eval set ``name`` under ``out_dir``; returns its folder. ``load_dataset`` is injectable for tests."""
    if name not in EVAL_SETS:
        raise FetchError(f"unknown evaluation set {name!r}; accepted: {', '.join(EVAL_SETS)}")
    spec = EVAL_SETS[name]
    target = Path(out_dir).expanduser() / name
    if target.exists() and any(target.iterdir()) and not overwrite:
        return target  # already there (fetched before, or a local copy): keep it
    if load_dataset is None:
        try:
            from datasets import load_dataset
        except ImportError:
            raise FetchError("fetching needs the 'datasets' package: pip install 'q3embed[data]'") from None
        _check_hub(name, spec, target)
    tmp = target.with_name(f".{name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        (_write_beir if spec.task == "retrieval" else _write_sts)(spec, tmp, load_dataset)
    except Q3EmbedError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as e:  # the hub unreachable, a renamed dataset, no disk: one line naming the set
        shutil.rmtree(tmp, ignore_errors=True)
        raise FetchError(f"cannot fetch {name} ({spec.hub_id}) from the Hugging Face hub: {_reason(e)}. Offline? "
                         f"Copy a local copy to {target} instead") from e
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)  # a folder appears only when complete
    return target


def _check_hub(name: str, spec: EvalSet, target: Path, timeout: float = 3.0) -> None:
    """Fail in seconds, with one line, where the hub cannot be reached: offline mode is set, or no
    connection opens to the hub (or to the proxy that would carry it). Without this, ``datasets``
    retries five times with back-off and prints each retry: 25 s of noise before the same error."""
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    where = f"Copy a local copy to {target} instead"
    if constants.HF_HUB_OFFLINE:
        raise FetchError(f"cannot fetch {name} ({spec.hub_id}): Hugging Face offline mode is on (HF_HUB_OFFLINE). "
                         f"{where}")
    endpoint = urlsplit(constants.ENDPOINT)
    proxy = urllib.request.getproxies().get(endpoint.scheme)
    hop = urlsplit(proxy) if proxy else endpoint
    port = hop.port or (443 if hop.scheme == "https" else 80)
    try:
        socket.create_connection((hop.hostname, port), timeout=timeout).close()
    except OSError as e:
        raise FetchError(f"cannot fetch {name} ({spec.hub_id}): {hop.hostname}:{port} cannot be reached "
                         f"({e.strerror or type(e).__name__}). Offline? {where}") from None


def _reason(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:200]


def _write_beir(spec: EvalSet, out: Path, load_dataset: Loader) -> None:
    corpus = load_dataset(spec.hub_id, "corpus", split="corpus")
    queries = load_dataset(spec.hub_id, "queries", split="queries")
    qrels = load_dataset(spec.hub_id, "default")
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for r in corpus:
            f.write(json.dumps({"_id": str(r["_id"]), "title": r.get("title") or "", "text": r["text"]},
                               ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for r in queries:
            f.write(json.dumps({"_id": str(r["_id"]), "text": r["text"]}, ensure_ascii=False) + "\n")
    (out / "qrels").mkdir()
    for split in qrels:
        with open(out / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for r in qrels[split]:
                f.write(f"{r['query-id']}\t{r['corpus-id']}\t{int(r['score'])}\n")


def _write_sts(spec: EvalSet, out: Path, load_dataset: Loader) -> None:
    splits = load_dataset(spec.hub_id)
    for split in splits:
        short = {"validation": "dev"}.get(split, split)
        with open(out / f"{spec.name}-en-{short}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            for r in splits[split]:
                w.writerow([r["sentence1"], r["sentence2"], r["score"]])
