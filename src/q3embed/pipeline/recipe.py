"""``q3embed pipeline run``: synthesise -> filter -> stage 1 -> stage 2 -> stage 3 (merge), with
an evaluation after every stage and a table in the shape of the paper's ablation.

Each stage records its outputs in ``<output_dir>/pipeline_state.json`` when it completes, so
a rerun skips finished stages; unfinished ones resume on their own terms (synth from its
append-only store, training from its newest checkpoint, merge writes atomically).
The pipeline composes the verbs from above them all: ``q3embed.synth``, ``q3embed.train``
(EmbedTrainer), ``q3embed.merge`` (merge_checkpoints) and ``q3embed.eval``.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from ..data.jsonl import read_jsonl
from .config import RecipeConfig, RecipeError
from .fingerprint import base_fingerprint, changed_keys, eval_inputs, stage_inputs
from .stages import STAGES

STATE_FILE = "pipeline_state.json"
TABLE_FILE = "ablation.md"

ROWS = [  # (state label, table row) in the paper's ablation order
    ("base", "base model (no training)"),
    ("stage1", "only synthetic data (stage 1)"),
    ("ablation", "w/o synthetic data (labelled SFT + merge)"),
    ("stage2", "w/o model merge (stage 2, last checkpoint)"),
    ("stage3", "full (stage 1 -> 2 -> merge)"),
]


class Pipeline:
    def __init__(self, cfg: RecipeConfig, log=print, show_progress: bool = False, rerun: bool = False):
        self.cfg = cfg
        self.out = Path(cfg.output_dir)
        self.log = log
        self.show_progress = show_progress
        self.rerun = rerun
        self.state_path = self.out / STATE_FILE
        self.state = json.loads(self.state_path.read_text()) if self.state_path.exists() else {"stages": {}, "evals": {}}
        self.state.setdefault("inputs", {})
        self.state.setdefault("eval_inputs", {})
        self.inputs = stage_inputs(cfg, self._train_keys)

    # ------------------------------------------------------------------ driver

    def run(self, stop_after: str | None = None) -> str:
        if stop_after is not None and stop_after not in STAGES:
            raise RecipeError(f"stop_after must be one of {', '.join(STAGES)}, got {stop_after!r}")
        steps = [("synth", self.synth), ("filter", self.filter), ("stage1", self.stage1), ("stage2", self.stage2),
                 ("stage3", self.stage3), ("ablation", self.ablation)]
        steps = [(n, fn) for n, fn in steps if n != "ablation" or self.cfg.ablation]
        if stop_after is not None:
            steps = steps[:[n for n, _ in steps].index(stop_after) + 1] if stop_after in dict(steps) else steps
        self.preflight(stop_after)
        self._out_of_date([n for n, _ in steps])
        self.check_llm()
        self.out.mkdir(parents=True, exist_ok=True)
        self.evaluate("base", self.cfg.base_model, base_fingerprint(self.cfg))
        for name, fn in steps:
            done = self.state["stages"].get(name)
            if done is None:
                self.log(f"== {name}")
                self.state["inputs"][name] = self.inputs[name].record()  # before the work: a killed stage resumes only as itself
                with self._cost(name):
                    outputs = fn()
                self._save_stage(name, outputs)
            else:
                self.log(f"== {name}: done earlier, skipped ({STATE_FILE})")
            if name in dict(ROWS):
                self.evaluate(name, self.state["stages"][name]["model"], self.inputs[name].fingerprint)
            if name == stop_after:
                break
        table = self.table()
        (self.out / TABLE_FILE).write_text(table + "\n")
        return table

    def preflight(self, stop_after: str | None) -> None:
        """Inputs and eval data, all before the first stage runs."""
        for task in self.cfg.eval.retrieval:
            _need_path(task.get("data_dir"), "eval.retrieval data_dir")
        for task in self.cfg.eval.sts:
            _need_path(task.get("path"), "eval.sts path")
        _need_path(self.cfg.stage2.labelled, "stage2.labelled")
        # Training sections and the guard are checked here too: a typo in them would otherwise
        # surface only when their stage starts, after the stages before it have trained.
        for name, section in (("stage1", self.cfg.stage1.train), ("stage2", self.cfg.stage2.train)):
            self._train_config(name, self.cfg.base_model, "<checked at its stage>", section, self.out / name)
        g = self.cfg.stage3.guard
        if g is not None:
            _need_path(g.sts_dev, "stage3.guard.sts_dev")
            if g.scope is not None:
                self._check_scope(g.scope, self.cfg.base_model)  # merges keep the base model's tensor names
        if self.cfg.synthetic_pairs:
            _need_path(self.cfg.synthetic_pairs, "synthetic_pairs")

    def check_llm(self) -> None:
        """The corpus and the LLM endpoint, when the synth stage has work to do."""
        if not self.cfg.synthetic_pairs and self.state["stages"].get("synth") is None:
            from ..data.corpus import read_corpus
            from ..synth.client import ChatClient

            s = self.cfg.synth
            read_corpus(s.corpus)  # an empty or malformed corpus fails here
            if s.weak is not None:
                return
            with ChatClient(s.llm_base_url, s.llm_model, s.llm_api_key) as client:
                client.check()  # unreachable endpoint or unknown model: before the base-model eval

    def _out_of_date(self, names: list[str]) -> None:
        """Stages recorded (finished or started) with other inputs than the recipe's now.

        Without ``rerun`` they are refused in one line that names the changed keys; with it, their
        outputs are removed so that they, and the stages after them that read those outputs, run
        again instead of resuming from work made for another recipe."""
        stale = [n for n in names if (n in self.state["stages"] or n in self.state["inputs"])
                 and self.state["inputs"].get(n, {}).get("fingerprint") != self.inputs[n].fingerprint]
        if not stale:
            return
        if not self.rerun:
            why = []
            for n in stale:
                why += [w for w in changed_keys(self.state["inputs"].get(n), self.inputs[n]) if w not in why]
            raise RecipeError(f"the recipe changed since stages {', '.join(stale)} ran in {self.out} "
                              f"({'; '.join(why) or 'their inputs changed'}); rerun with --rerun to run those "
                              f"stages again (their earlier outputs are replaced), or restore the recipe")
        for n in stale:
            self.log(f"== {n}: the recipe changed ({'; '.join(changed_keys(self.state['inputs'].get(n), self.inputs[n]))}), "
                     f"running it again")
            for path in self._stage_paths(n):
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
            for part in ("stages", "inputs", "costs"):
                self.state.get(part, {}).pop(n, None)
        self._write_state()

    def _stage_paths(self, name: str) -> list[Path]:
        """What a stage writes, removed before it runs again for a changed recipe."""
        o = self.out
        runs = [p for p in o.glob(f"{name}-run*") if p.name.removeprefix(f"{name}-run").isdigit()]
        return {
            "synth": [o / "data" / "synthetic.jsonl"] + ([o / self.cfg.synth.out] if self.cfg.synth else []),
            "filter": [o / "filter"],
            "stage1": [o / "stage1"],
            "stage2": [o / "stage2", o / "data" / "stage2.jsonl", *runs],
            "stage3": [o / "stage3"],
            "ablation": [o / "ablation", o / "data" / "labelled_only.jsonl", *runs],
        }[name]

    def _train_keys(self, name: str) -> dict:
        """A training section's effective config (defaults filled in), for its stage's fingerprint."""
        section = (self.cfg.stage1 if name == "stage1" else self.cfg.stage2).train
        return self._train_config(name, self.cfg.base_model, "-", section, self.out / name).model_dump(mode="json")

    @contextmanager
    def _cost(self, name: str):
        """Record the wall and CPU seconds (this process, all threads) of a stage or an evaluation.

        A resumed stage adds the time of each call, so the total stays honest across kills
        (work lost to a kill is counted too)."""
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            costs = self.state.setdefault("costs", {})
            prev = costs.get(name, {"wall_s": 0.0, "cpu_s": 0.0})
            costs[name] = {"wall_s": round(prev["wall_s"] + time.perf_counter() - w0, 1),
                           "cpu_s": round(prev["cpu_s"] + time.process_time() - c0, 1)}
            self._write_state()

    def _save_stage(self, name: str, outputs: dict) -> None:
        self.state["stages"][name] = outputs
        self._write_state()

    def _write_state(self) -> None:
        tmp = self.state_path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.state_path)

    # ------------------------------------------------------------------ stages

    def synth(self) -> dict:
        if self.cfg.synthetic_pairs:
            return {"pairs": self.cfg.synthetic_pairs, "source": "given"}
        from ..synth.client import RetryPolicy
        from ..synth.runner import format_report, synthesize

        s = self.cfg.synth
        if s.weak is not None:
            from ..synth.runner import synthesize_weak

            out = self.out / s.out
            report = synthesize_weak(s.corpus, out, s.weak_config(), log=self.log)
            self.log(format_report(report))
            return self._ordered(out, report)
        out = self.out / s.out
        report = synthesize(s.corpus, out, s.llm_base_url, s.llm_model, s.synth_config(), api_key=s.llm_api_key,
                            personas=s.personas, prompts_dir=s.prompts, concurrency=s.concurrency,
                            rate_limit=s.rate_limit, retry=RetryPolicy(max_retries=s.max_retries, backoff_base=s.backoff),
                            temperature=s.temperature, show_progress=self.show_progress, log=self.log)
        self.log(format_report(report))
        failed = report.counts["gave_up"]
        if failed > s.allow_failed_fraction * report.planned:
            raise RecipeError(f"synth: {failed} of {report.planned} jobs failed after retries (allowed: "
                              f"synth.allow_failed_fraction={s.allow_failed_fraction}); rerun to retry only those")
        return self._ordered(out, report)

    def _ordered(self, out: Path, report) -> dict:
        # Concurrent jobs append in completion order; sorting by key makes the training data,
        # and so the seeded training runs, the same on every run.
        from ..synth.filter import read_pairs, write_pairs

        ordered = self.out / "data" / "synthetic.jsonl"
        write_pairs(sorted(read_pairs(out), key=lambda r: r["key"]), ordered)
        return {"pairs": str(ordered), "raw": str(out), "counts": report.counts.as_dict()}

    def filter(self) -> dict:
        from ..synth.filter import (
            histogram_png,
            read_pairs,
            text_histogram,
            write_pairs,
        )

        f = self.cfg.filter
        records = read_pairs(self.state["stages"]["synth"]["pairs"])
        from ..engine import Embedder

        emb = Embedder.load(f.model or self.cfg.base_model, device=self.cfg.device)
        from ..synth.filter import (
            fitted_threshold,
            pair_scores,
            percentile_threshold,
            select_pairs,
        )

        scores = pair_scores(emb, records, f.batch_size, show_progress=self.show_progress)
        if f.fit_keep is not None:  # the labelled pairs are the known-good ones
            good = pair_scores(emb, labelled_pairs(self.cfg.stage2.labelled, self.cfg.stage2.labelled_split), f.batch_size)
            threshold = max(-1.0, min(1.0, fitted_threshold(good, f.fit_keep)))
        elif f.percentile is not None:
            threshold = percentile_threshold(scores, f.percentile)
        else:
            threshold = f.threshold
        result = select_pairs(records, scores, threshold, getattr(emb, "name", ""))
        out = self.out / "filter" / "kept.jsonl"
        write_pairs(result.kept, out)
        histogram_png(result.scores, threshold, self.out / "filter" / "cosine_hist.png")
        self.log(f"filter: kept {result.n_kept} / dropped {result.n_dropped} of {result.n_records} records "
                 f"at cosine > {threshold:.4f}\n{text_histogram(result.scores, threshold)}")
        return {"kept": str(out), "n_kept": result.n_kept, "n_dropped": result.n_dropped, "threshold": threshold}

    def stage1(self) -> dict:
        pairs = self.state["stages"]["filter" if self.cfg.stage1.pairs == "filtered" else "synth"]
        pairs = pairs["kept" if self.cfg.stage1.pairs == "filtered" else "pairs"]
        run_dir = self.out / "stage1"
        self._train("stage1", self.cfg.base_model, pairs, self.cfg.stage1.train, run_dir)
        return {"model": str(run_dir / "final")}

    def stage2(self) -> dict:
        data = self._stage2_data(with_synthetic=self.cfg.stage2.synthetic)
        runs = self._train_runs("stage2", self.state["stages"]["stage1"]["model"], data)
        # "w/o model merge" is run 0's last checkpoint: one model, whatever stage 3 merges
        return {"model": runs["checkpoints"][-1], **runs, "train_file": str(data)}

    def stage3(self) -> dict:
        merged = self._merge(self._merge_inputs(self.state["stages"]["stage2"]), self.out / "stage3" / "merged")
        return self._guard(merged, self.out / "stage3")

    def ablation(self) -> dict:
        """"w/o synthetic data": stage 2 and 3 from the base model on the labelled pairs alone."""
        data = self._stage2_data(with_synthetic=False)
        runs = self._train_runs("ablation", self.cfg.base_model, data)
        merged = self._merge(self._merge_inputs(runs), self.out / "ablation" / "merged")
        return {**runs, **self._guard(merged, self.out / "ablation")}

    def _guard(self, merged: str, folder: Path) -> dict:
        """{"model": merged, or slerp(base -> merged, t) per ``stage3.guard``; "guard": what was tried}."""
        g = self.cfg.stage3.guard
        if g is None:
            return {"model": merged}
        from ..merge import merge_checkpoints
        from ..merge.checkpoints import holds_merge
        from ..merge.schedule import scoped_t

        if g.scope is not None:
            self._check_scope(g.scope, merged)
        budget = self._sts_dev(self.cfg.base_model, g.sts_dev) - g.max_drop
        tried = {1.0: self._sts_dev(merged, g.sts_dev)}
        model = merged
        for t in g.grid:
            if tried[min(tried)] >= budget:
                break
            model = str(folder / (f"guard-t{t:g}" if g.scope is None else f"guard-{_slug(g.scope)}-t{t:g}"))
            spec = scoped_t(g.scope, t)  # the scope's tensors at t, the rest as merged
            if not holds_merge(model, "slerp", [self.cfg.base_model, merged], spec):
                merge_checkpoints([self.cfg.base_model, merged], model, method="slerp", t=spec, overwrite=True)
            tried[t] = self._sts_dev(model, g.sts_dev)
        t = min(tried)
        within = tried[t] >= budget
        self.log(f"guard ({g.scope or 'every tensor'}): STS dev {tried[t]:.2f} at t={t:g} "
                 f"({'within' if within else 'STILL OUTSIDE'} the budget >= {budget:.2f}); tried "
                 + ", ".join(f"t={k:g}: {v:.2f}" for k, v in tried.items()))
        return {"model": model, "merged": merged,
                "guard": {"t": t, "scope": g.scope, "budget": round(budget, 2), "within": within,
                          "sts_dev": {str(k): v for k, v in tried.items()}}}

    @staticmethod
    def _check_scope(scope: str, model: str) -> None:
        """A scope that names no tensor would make the guard a silent no-op: refuse it, naming a few names."""
        from ..merge.schedule import names_in_scope
        from ..merge.sources import open_source

        names = open_source(model).names
        if not names_in_scope(scope, names):
            raise RecipeError(f"stage3.guard.scope {scope!r} matches no tensor of {model} "
                              f"(e.g. {', '.join(names[:3])}); use 'ffn', 'attention' or a regex of these names")

    def _sts_dev(self, model: str, path: str) -> float:
        """Spearman x100 of ``model`` on an STS dev CSV, in the evaluation's dtype and cache."""
        from ..engine import Embedder
        from ..eval import evaluate_sts

        ev = self.cfg.eval
        with self._cost("guard"):
            emb = Embedder.load(model, device=self.cfg.device, dtype=ev.dtype)
            return round(100 * evaluate_sts(emb, path, batch_size=ev.batch_size, cache_dir=ev.cache_dir)["main_score"], 2)

    # ------------------------------------------------------------------ helpers

    def _stage2_data(self, with_synthetic: bool) -> Path:
        from ..synth.filter import write_pairs

        out = self.out / "data" / ("stage2.jsonl" if with_synthetic else "labelled_only.jsonl")
        rows = labelled_pairs(self.cfg.stage2.labelled, self.cfg.stage2.labelled_split)
        if with_synthetic:
            rows += read_jsonl(self.state["stages"]["filter"]["kept"], "filtered pairs")
        write_pairs(rows, out)
        return out

    def _train_runs(self, name: str, model: str, data: Path) -> dict:
        """``stage2.runs`` runs from ``model``: {"checkpoints": run 0's last ones, "runs": each run's last}.

        Run r > 0 trains in ``<name>-run<r>`` with seed + 1000 * r, so adding runs to a recipe
        keeps run 0 (and its evaluation) as it was."""
        section = self.cfg.stage2.train
        seed = section.get("seed", self.cfg.seed) or 0
        ckpts = [self._train_for_merge(name if r == 0 else f"{name}-run{r}", model, data, seed + 1000 * r)
                 for r in range(self.cfg.stage2.runs)]
        return {"checkpoints": ckpts[0], "runs": [c[-1] for c in ckpts]}

    def _merge_inputs(self, stage: dict) -> list[str]:
        return stage["runs"] if self.cfg.stage3.inputs == "runs" else stage["checkpoints"]

    def _train_for_merge(self, name: str, model: str, data: Path, seed: int) -> list[str]:
        """Train with checkpoints spread over the run; the last ``stage2.checkpoints`` are merged."""
        k = self.cfg.stage2.checkpoints
        section = copy.deepcopy(self.cfg.stage2.train)
        section.setdefault("keep_checkpoints", None)
        section["seed"] = seed
        run_dir = self.out / name
        self._train(name, model, str(data), section, run_dir, checkpoints=k)
        ckpts = sorted((p for p in run_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                       key=lambda p: int(p.name.split("-")[-1]))
        if len(ckpts) < k:
            raise RecipeError(f"{name}: expected {k} checkpoints in {run_dir}, found {len(ckpts)}; "
                              f"is keep_checkpoints lower than stage2.checkpoints?")
        return [str(p) for p in ckpts[-k:]]  # merge_checkpoints skips their trainer_state

    def _train(self, name: str, model: str, train_file: str, section: dict, run_dir: Path,
               checkpoints: int | None = None) -> None:
        """Train one stage; with ``checkpoints``, save that many spread over the trainer's planned steps."""
        from ..train.config import ConfigError
        from ..train.embed_trainer import EmbedTrainer

        cfg = self._train_config(name, model, train_file, section, run_dir)
        trainer = EmbedTrainer(cfg)
        if checkpoints is not None:
            try:
                total = trainer.planned_steps()
            except ConfigError as e:
                raise RecipeError(f"{name}: {e}") from None
            if total < checkpoints:
                raise RecipeError(f"{name}: the run has only {total} steps, fewer than stage2.checkpoints={checkpoints}; "
                                  f"add data or epochs, or lower batch_size")
            cfg.save_every = max(1, total // checkpoints)
        trainer.setup()
        if trainer.resumed_from is not None:
            self.log(f"{name}: resuming from {trainer.resumed_from}")
        losses = trainer.train()
        trainer.cleanup()
        if losses:
            self.log(f"{name}: {len(losses)} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}")

    def _train_config(self, name: str, model: str, train_file: str, section: dict, run_dir: Path):
        """A stage's ``EmbedTrainConfig``: its recipe section plus what the pipeline sets (model, data, seed)."""
        from ..train.config import ConfigError, EmbedTrainConfig

        raw = copy.deepcopy(section)
        raw.setdefault("data", {})
        raw["data"].setdefault("num_negatives", 0)  # synthetic pairs mostly have none; in-batch negatives remain
        raw["data"]["train_file"] = train_file
        if raw["data"]["num_negatives"] == 0:
            raw.setdefault("loss", {}).setdefault("hard_negatives", False)
        raw.update(model=model, output_dir=str(run_dir))
        raw.setdefault("progress", self.show_progress)
        if self.cfg.seed is not None:
            raw.setdefault("seed", self.cfg.seed)
        if self.cfg.device is not None:
            raw.setdefault("device", self.cfg.device)
        try:
            return EmbedTrainConfig.from_dict(raw, where=f"{'stage2' if name == 'ablation' else name}.train.")
        except ConfigError as e:
            raise RecipeError(str(e)) from None

    def _merge(self, checkpoints: list[str], out: Path) -> str:
        from ..merge import merge_checkpoints as merge
        from ..merge.checkpoints import holds_merge

        method, what = self.cfg.stage3.method, self.cfg.stage3.inputs
        if method == "slerp" and len(checkpoints) > 2:
            method = "multislerp"  # slerp is defined for two; multislerp is its n-way generalisation
            self.log(f"merge: {len(checkpoints)} {what}, using multislerp")
        kw = {"t": self.cfg.stage3.t} if method == "slerp" else {}
        if holds_merge(out, method, checkpoints, kw.get("t")):
            self.log(f"merge: {out} holds this merge already, kept")
            return str(out)
        result = merge(checkpoints, out, method=method, overwrite=True, show_progress=self.show_progress, **kw)
        self.log(f"merge: {method} of {len(checkpoints)} {what} -> {out} ({result.seconds:.1f} s)")
        return str(out)

    def evaluate(self, label: str, model: str, model_fingerprint: str) -> dict:
        """Scores of ``model`` on the eval tasks; kept in the state while the model and the tasks are unchanged."""
        inputs = eval_inputs(self.cfg, model_fingerprint)
        if label in self.state["evals"] and self.state["eval_inputs"].get(label) == inputs.fingerprint:
            return self.state["evals"][label]
        from ..engine import Embedder
        from ..eval import evaluate_retrieval, evaluate_sts

        ev = self.cfg.eval
        scores = {}
        with self._cost(f"eval {label}"):
            emb = Embedder.load(model, device=self.cfg.device, dtype=ev.dtype)
            for task in ev.retrieval:
                r = evaluate_retrieval(emb, task["data_dir"], split=task.get("split", "test"),
                                       instruction=task.get("instruction"), batch_size=ev.batch_size,
                                       cache_dir=ev.cache_dir, show_progress=self.show_progress)
                scores[f"{Path(task['data_dir']).name} nDCG@10"] = round(100 * r["main_score"], 2)
            for task in ev.sts:
                r = evaluate_sts(emb, task["path"], batch_size=ev.batch_size, cache_dir=ev.cache_dir)
                scores[f"{Path(task['path']).stem} Spearman"] = round(100 * r["main_score"], 2)
        scores["mean"] = round(sum(scores.values()) / len(scores), 2)
        self.log(f"eval {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))
        self.state["evals"][label] = scores
        self.state["eval_inputs"][label] = inputs.fingerprint
        self._write_state()
        return scores

    def table(self) -> str:
        """The ablation table of the evaluations that are current: a score of a model the recipe no
        longer makes (a stage not yet re-run after an edit) is left out, never shown as current."""
        made = {"base": base_fingerprint(self.cfg), **{n: i.fingerprint for n, i in self.inputs.items()}}
        evals = {label: scores for label, scores in self.state["evals"].items()
                 if self.state["eval_inputs"].get(label) == eval_inputs(self.cfg, made.get(label, "")).fingerprint}
        present = [(label, row) for label, row in ROWS if label in evals]
        cols = list(evals[present[0][0]]) if present else []
        lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for label, row in present:
            lines.append(f"| {row} | " + " | ".join(f"{evals[label].get(c, float('nan')):.2f}" for c in cols) + " |")
        missing = [row for label, row in ROWS if label not in evals]
        if missing:
            lines.append("")
            lines.append("not run: " + "; ".join(missing))
        return "\n".join(lines)


def labelled_pairs(path: str, split: str = "train") -> list[dict]:
    """Labelled pairs from a training JSONL, or from a BEIR folder's qrels (score > 0 = positive)."""
    p = Path(path)
    if p.is_dir():
        from ..eval import load_beir

        corpus, queries, qrels = load_beir(p, split)
        rows = []
        for qid, rels in qrels.items():
            pos = [corpus[d] for d, s in rels.items() if s > 0 and d in corpus]
            if qid in queries and pos:
                rows.append({"query": queries[qid], "pos": pos, "provenance": {"source": f"{p.name}/{split}", "query_id": qid}})
        if not rows:
            raise RecipeError(f"stage2.labelled: {p} split '{split}' has no positive qrels")
        return rows
    from ..train.data import read_train_file

    read_train_file(p)  # checks every row, naming the bad line
    return read_jsonl(p, "stage2.labelled")


def _need_path(value: str | None, what: str) -> None:
    if not value or not Path(value).exists():
        raise RecipeError(f"{what}: {value} does not exist")


def _slug(scope: str) -> str:
    """A folder-name form of a guard scope: "ffn" stays, a regex keeps its letters and digits."""
    return "".join(ch if ch.isalnum() else "_" for ch in scope).strip("_")[:40] or "scope"
