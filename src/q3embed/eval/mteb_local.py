"""Run MTEB's own evaluators on local files (no hub access): a BEIR folder becomes an mteb
retrieval task, a pairs file an mteb STS task. Used to cross-check q3embed's evaluators
against mteb's, and for users whose data never leaves their machine."""

from __future__ import annotations

from pathlib import Path

from .beir import load_beir
from .sts import load_sts_pairs


def _metadata(name: str, task_type: str, main_score: str, split: str, prompt=None):
    from mteb.abstasks.task_metadata import TaskMetadata

    return TaskMetadata(
        name=name,
        description=f"Local {task_type} data loaded by q3embed.",
        dataset={"path": f"local/{name}", "revision": "local"},
        type=task_type,
        category="t2t",
        modalities=["text"],
        eval_splits=[split],
        eval_langs=["eng-Latn"],
        main_score=main_score,
        prompt=prompt,
    )


def local_retrieval_task(data_dir: str | Path, name: str | None = None, split: str = "test", query_prompt: str | None = None):
    """An ``mteb`` AbsTaskRetrieval over a BEIR folder (documents: title + " " + text, stripped)."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    data_dir = Path(data_dir)
    meta = _metadata(name or f"Local{data_dir.resolve().name}", "Retrieval", "ndcg_at_10", split,
                     {"query": query_prompt} if query_prompt else None)

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = meta

        def load_data(self, num_proc=None, **kwargs) -> None:
            if self.data_loaded:
                return
            corpus, queries, qrels = load_beir(data_dir, split)
            self.dataset = {"default": {split: {
                # the title is already folded into text, as mteb itself does
                "corpus": Dataset.from_dict({"id": list(corpus), "text": list(corpus.values())}),
                "queries": Dataset.from_dict({"id": list(queries), "text": list(queries.values())}),
                "relevant_docs": qrels,
                "top_ranked": None,
            }}}
            self.data_loaded = True

    return LocalRetrieval()


def local_sts_task(path: str | Path, name: str | None = None, min_score: float = 0.0, max_score: float = 5.0):
    """An ``mteb`` AbsTaskSTS over a pairs file (CSV or JSONL, see ``load_sts_pairs``)."""
    from datasets import Dataset
    from mteb.abstasks.sts import AbsTaskSTS

    path = Path(path)
    meta = _metadata(name or f"Local{path.stem}", "STS", "cosine_spearman", "test")

    class LocalSTS(AbsTaskSTS):
        metadata = meta

        def load_data(self, num_proc=None, **kwargs) -> None:
            if self.data_loaded:
                return
            s1, s2, gold = load_sts_pairs(path)
            self.dataset = {"default": {"test": Dataset.from_dict(
                {"sentence1": s1, "sentence2": s2, "score": [float(g) for g in gold]})}}
            self.data_loaded = True

    LocalSTS.min_score, LocalSTS.max_score = min_score, max_score
    return LocalSTS()
