"""Does merging pay? SciFact (in-domain) against STSB (out-of-domain) for fine-tunes and their merges.

    python -m bench.merge_robustness [--data DATA] [--work WORK] [--cache-dir DIR]
    python -m bench.merge_robustness --smoke            # tiny data, 2 steps: the whole path (WORK/smoke)
    python -m bench.merge_robustness --report-only      # table, JSON and PNG from the rows so far

Design:
- Validation is carved BEFORE training: a seeded 20% of SciFact TRAIN queries
  (``q3embed.merge.objective.carve_validation``, the rule ``merge search --val-data`` uses);
  the recipe trains on the other 80% (hard negatives mined for them only). Validation scores
  those queries against a sub-corpus (their positives, their mined negatives and a seeded
  1,000 other documents; ``--val-corpus-docs full``: the whole corpus, as the test queries
  search it), plus Spearman on STSB dev; the objective is
  ``(1-w) * val nDCG@10 + w * STS dev`` with ``w = --sts-weight`` (0.5, merge search's default).
  Test queries never choose anything.
- Inputs: the base model; 3 seeds of ``recipes/scifact-minilm.yaml`` (the seed sets the data
  order and dropout; there is no new head to initialise), checkpoints every 5 steps.
- Candidates, all scored on validation: slerp / multislerp of seed 0's checkpoints; the
  uniform soup of the 3 finals and the greedy soup (finals added best-first while the
  objective does not drop); WiSE-FT: slerp base -> E on a t grid (``merge_search`` t-grid
  strategy with the validation objective), E the best of the finals and soups on validation;
  per-layer t gradients around the best t (``merge.schedule``).
- The chosen merge is the best merge on the validation objective. Only a short list is
  test-evaluated (SciFact test nDCG@10 and STSB test Spearman, fp32): every input of a
  test-evaluated merge, the chosen merge, the soups, and two more WiSE grid points.
- Probes (role ``probe``, never chosen): WiSE-FT slerp base -> uniform soup at t = 0.5, 0.7, 0.9,
  added after the first test results showed the soup as the best model, to map the Pareto front
  between the base and the soup on test. They are validation-scored too, but ``chosen`` only looks
  at role ``merge``, so adding them cannot change the choice.
Everything is appended to ``{work}/results.jsonl`` as it finishes and skipped on rerun; merges
and checkpoints are kept under ``{work}``; the embedding cache makes a killed evaluation
continue. So ``kill -9`` and rerun the same command at any point. The table, JSON and PNG go to
WORK/report (``--save``: bench/results/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench import harness
from bench.scifact_common import BASE_PUBLISHED, Evaluator, Results, SciFactData, mine, smoke_data, train

WISE_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
WISE_TEST = (0.5, 0.8)  # grid points test-evaluated besides the chosen one (fixed in advance, not picked)
PROBE_T = (0.5, 0.7, 0.9)  # WiSE base -> uniform soup, test-evaluated for the Pareto picture only
SEEDS = (0, 1, 2)


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.res = Results(self.work / "results.jsonl")
        source = SciFactData.from_args(args)
        if args.smoke:
            self.data, self.sts_dev, self.sts_test = smoke_data(self.work / "smoke-data", source)
        else:
            self.data, self.sts_dev, self.sts_test = source.scifact, source.sts_dev, source.sts_test
        self.cache = Path(args.cache_dir).resolve()
        self.base = "minilm"
        from q3embed.model.resolve import resolve_model_path

        self.base_path = str(resolve_model_path(self.base))
        self.ev = Evaluator(self.cache, self.data, self.sts_dev, self.sts_test, sts_weight=args.sts_weight)

    # -- data ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        from q3embed.merge.objective import carve_validation

        a = self.args
        self.val_data = self.work / "val-data"
        fit, val = carve_validation(self.data, self.val_data, "train", a.val_fraction, a.val_seed)
        qrels = self.val_data / "qrels"
        self.mined_fit = mine(self.work / "mined_fit.jsonl", qrels / f"{fit}.tsv", self.data, cache_dir=self.cache)
        mined_val = mine(self.work / "mined_val.jsonl", qrels / f"{val}.tsv", self.data, cache_dir=self.cache)
        if a.val_corpus_docs != "full":  # else the validation queries search the whole corpus, as test ones do
            carve_validation(self.data, self.val_data, "train", a.val_fraction, a.val_seed,
                             corpus_docs=int(a.val_corpus_docs), negatives=mined_val)
        n_docs = (self.val_data / "corpus.jsonl").read_text().count("\n")
        n_val = len({ln.split("\t")[0] for ln in (qrels / f"{val}.tsv").read_text().splitlines()[1:]})
        print(f"validation: {n_val} train queries against {n_docs} documents; training on {fit}", flush=True)
        self.ev.val_data, self.ev.val_split = self.val_data, val

    # -- rows -------------------------------------------------------------------------------
    def test(self, label: str, path, **meta) -> dict:
        return self.res.once("test", label, lambda: self.ev.test(path), path=str(path), **meta)

    def val(self, label: str, path, **meta) -> dict:
        return self.res.once("val", label, lambda: self.ev.validation(path), path=str(path), **meta)

    def merge(self, name: str, inputs: list, method: str, t=0.5, weights=None) -> Path:
        """A merge under {work}/merges/{name}; an existing complete one is reused."""
        from q3embed.merge import merge_checkpoints
        from q3embed.merge.checkpoints import MERGE_RECORD

        out = self.work / "merges" / name
        if not (out / MERGE_RECORD).exists():
            merge_checkpoints([str(p) for p in inputs], out, method=method, t=t, weights=weights, overwrite=True)
        return out

    # -- the plan ---------------------------------------------------------------------------
    def run(self) -> None:
        self.test("base all-MiniLM-L6-v2", self.base_path, role="input", published=BASE_PUBLISHED)
        self.prepare()
        self.val("base all-MiniLM-L6-v2", self.base_path, role="input")
        runs = {}
        for seed in self.seeds:
            runs[seed] = self.train_seed(seed)
            self.test(f"seed {seed} final", runs[seed] / "final", role="input")
            self.val(f"seed {seed} final", runs[seed] / "final", role="input")
            if seed == self.seeds[0]:
                self.checkpoint_merges(runs[seed])
        finals = {f"seed {s} final": runs[s] / "final" for s in self.seeds}
        ends = dict(finals)
        if len(self.seeds) > 1:
            ends.update(self.soups(finals))
        end_label = max(ends, key=lambda k: self.res.get("val", k)["objective"])
        best_t = self.wise(end_label, ends[end_label])
        self.schedules(end_label, ends[end_label], best_t)
        self.test_phase()
        if "uniform soup" in ends:
            self.probes(ends["uniform soup"])

    def train_seed(self, seed: int) -> Path:
        out = self.work / f"seed{seed}"
        over = [f"seed={seed}", f"save_every={self.args.save_every}", "save_dtype=float32"]
        if self.args.smoke:
            over += ["optim.max_steps=2", "batch_size=4", "data.max_length=32", "progress=false"]
        if (out / "final" / "config.json").exists() and self.res.get("train", f"seed {seed}"):
            return out
        cost = train(out, self.mined_fit, over)
        if not self.res.get("train", f"seed {seed}"):  # time of the call that finished it (a resumed run: its tail)
            self.res.record({"kind": "train", "label": f"seed {seed}", "path": str(out), **cost})
        return out

    def checkpoints(self, run: Path) -> list[Path]:
        ck = sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        return [c for c in ck if (c / "config.json").exists()]

    def checkpoint_merges(self, run: Path) -> None:
        """slerp / multislerp of one run's checkpoints (the paper's stage 3), on validation."""
        ck = self.checkpoints(run)
        final = run / "final"
        # the last two checkpoints before the final step (the newest checkpoint IS the final; on the
        # 80% split the run has 20 steps: checkpoint-10 and -15, plus the final)
        picks = ck[:-1][-2:]
        for c in picks:
            self.val(f"seed 0 {c.name}", c, role="input")
        if not picks:
            return
        self.plan_inputs = {f"seed 0 {c.name}": c for c in picks}
        names = " + ".join(c.name.split("-")[1] for c in picks)
        m = self.merge("multislerp-s0", [*picks, final], "multislerp")
        self.val(f"multislerp seed 0 steps {names} + final", m, role="merge", method="multislerp",
                 inputs=[f"seed 0 {c.name}" for c in picks] + ["seed 0 final"])
        m = self.merge("slerp-s0-first-final", [picks[0], final], "slerp", t=0.5)
        self.val(f"slerp t=0.5 seed 0 {picks[0].name} , final", m, role="merge", method="slerp",
                 inputs=[f"seed 0 {picks[0].name}", "seed 0 final"])

    def soups(self, finals: dict) -> dict:
        """Uniform soup of the finals, and the greedy soup (best-first, kept while the objective does not drop).

        Returns {validation label: path} of the soups (the greedy one under its members' label)."""
        labels = list(finals)
        out = {"uniform soup": self.merge("soup-uniform", list(finals.values()), "linear")}
        self.val("uniform soup", out["uniform soup"], role="merge", method="linear", inputs=labels)
        name = lambda ks: "uniform soup" if len(ks) == len(labels) else "soup " + " + ".join(ks)
        order = sorted(labels, key=lambda k: -self.res.get("val", k)["objective"])
        members, score = [order[0]], self.res.get("val", order[0])["objective"]
        for nxt in order[1:]:
            trial = members + [nxt]
            if name(trial) not in out:
                out[name(trial)] = self.merge("soup-" + "-".join(k.split()[1] for k in trial),
                                              [finals[k] for k in trial], "linear")
                self.val(name(trial), out[name(trial)], role="merge", method="linear", inputs=trial)
            s = self.res.get("val", name(trial))["objective"]
            if s >= score:
                members, score = trial, s
        self.res.once("note", "greedy soup", lambda: {"members": members, "same_as": name(members)})
        return {k: v for k, v in out.items() if k in ("uniform soup", name(members))}

    def wise(self, end_label: str, end: Path) -> float:
        """WiSE-FT: slerp(base -> E, t) on the grid, through ``merge_search`` with the validation objective."""
        from q3embed.merge.search import merge_search

        if any(not self.res.get("val", self.wise_label(t, end_label)) for t in WISE_GRID):
            def evaluate(path: Path) -> dict:  # merge_search's evaluator; rows land in the log as they finish
                if Path(path).resolve() in (Path(self.base_path).resolve(), Path(end).resolve()):
                    return {"main_score": 0.0}  # the inputs: already scored above
                t = json.loads((Path(path) / "q3embed_merge.json").read_text())["t"]
                r = self.val(self.wise_label(t, end_label), path, role="merge", method="slerp", t=t,
                             inputs=["base all-MiniLM-L6-v2", end_label])
                return {"main_score": r["objective"]}

            merge_search([self.base_path, str(end)], evaluate, self.work / "merges" / f"wise-{_slug(end_label)}",
                         strategy="t-grid", grid=WISE_GRID, keep=True)
        scores = {t: self.res.get("val", self.wise_label(t, end_label))["objective"] for t in WISE_GRID}
        best = max(scores, key=scores.get)
        self.wise_end = (end_label, end)
        return best

    @staticmethod
    def wise_label(t: float, end_label: str) -> str:
        return f"WiSE slerp t={t:g} (base -> {end_label})"

    def schedules(self, end_label: str, end: Path, t: float) -> None:
        """Per-layer t: a gradient over the 6 layers around the best uniform t, both directions."""
        lo, hi = max(0.0, round(t - 0.2, 2)), min(1.0, round(t + 0.2, 2))
        for spec in (f"{lo:g},{hi:g}", f"{hi:g},{lo:g}"):
            m = self.merge(f"sched-{_slug(end_label)}-{spec.replace(',', '_')}", [self.base_path, end], "slerp", t=spec)
            self.val(f"per-layer slerp t={spec} (base -> {end_label})", m, role="merge", method="slerp-schedule",
                     t=spec, inputs=["base all-MiniLM-L6-v2", end_label])

    def chosen(self) -> dict:
        merges = [r for r in self.res.rows() if r["kind"] == "val" and r.get("role") == "merge"]
        return max(merges, key=lambda r: r["objective"])

    def test_phase(self) -> None:
        """Test-evaluate the short list, most telling first; every input of a tested merge is tested."""
        c = self.chosen()
        self.res.once("note", "chosen", lambda: {"chosen": c["label"], "objective": c["objective"],
                                                 "sts_weight": self.args.sts_weight})
        order = [c["label"], "uniform soup"]
        end_label, _ = self.wise_end
        order += [self.wise_label(t, end_label) for t in WISE_TEST]
        val_rows = {r["label"]: r for r in self.res.rows() if r["kind"] == "val"}
        order += [k for k in val_rows if k.startswith("multislerp")]
        note = self.res.get("note", "greedy soup")
        if note and len(note["members"]) > 1:  # a greedy "soup" of one model is that model, tested already
            order.append(note["same_as"])
        sched = [r for r in val_rows.values() if r.get("method") == "slerp-schedule"]
        if sched:
            order.append(max(sched, key=lambda r: r["objective"])["label"])
        seen = set()
        for label in order:
            if label in seen or label not in val_rows:
                continue
            seen.add(label)
            row = val_rows[label]
            for inp in row.get("inputs", []):
                if inp in val_rows:
                    self.test(inp, val_rows[inp]["path"], role="input")
            self.test(label, row["path"], role=row.get("role"), method=row.get("method"), t=row.get("t"),
                      inputs=row.get("inputs"), chosen=label == c["label"])
            if self.args.max_test and sum(1 for r in self.res.rows() if r["kind"] == "test") >= self.args.max_test:
                print(f"stopping at --max-test {self.args.max_test} test evaluations", flush=True)
                break

    def probes(self, soup: Path) -> None:
        """WiSE base -> uniform soup on test (role ``probe``: outside the candidate pool ``chosen`` reads)."""
        for t in PROBE_T:
            label = self.wise_label(t, "uniform soup")
            m = self.merge(f"probe-wise-soup-t{t:g}", [self.base_path, soup], "slerp", t=t)
            meta = {"role": "probe", "method": "slerp", "t": t, "inputs": ["base all-MiniLM-L6-v2", "uniform soup"]}
            self.val(label, m, **meta)
            self.test(label, m, **meta)

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.args.seeds.split(","))


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated points (higher is better on both axes)."""
    return [i for i, (x, y) in enumerate(points)
            if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for x2, y2 in points)]


def report(work: Path, out_dir: Path, stem: str, sts_weight: float) -> str:
    """Markdown table + JSON of every row + PNG of SciFact vs STSB (Pareto front marked); returns the table."""
    rows = Results(work / "results.jsonl").rows()
    val = {r["label"]: r for r in rows if r["kind"] == "val"}
    test = {r["label"]: r for r in rows if r["kind"] == "test"}
    chosen = next((r["chosen"] for r in rows if r["kind"] == "note" and r["label"] == "chosen"), None)
    labels = list(dict.fromkeys([*test, *val]))
    head = (f"| model | role | val nDCG@10 | STS dev | objective (w={sts_weight:g}) | SciFact test nDCG@10 "
            "| STSB test | test eval wall s |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for k in labels:
        v, t = val.get(k, {}), test.get(k, {})
        mark = " **(chosen on validation)**" if k == chosen else ""
        cell = lambda d, f: f"{d[f]:.2f}" if f in d else "–"
        lines.append(f"| {k}{mark} | {(v or t).get('role', '')} | {cell(v, 'val_ndcg_at_10')} | "
                     f"{cell(v, 'sts_dev_spearman')} | {cell(v, 'objective')} | {cell(t, 'scifact_ndcg_at_10')} | "
                     f"{cell(t, 'stsb_spearman')} | {t.get('wall_s', '–')} |")
    singles = [r for k, r in test.items() if r.get("role") == "input" and not k.startswith("base")]
    verdict = ""
    if chosen in test and singles:
        best = max(singles, key=lambda r: r["scifact_ndcg_at_10"])
        c = test[chosen]
        d_sf, d_sts = c["scifact_ndcg_at_10"] - best["scifact_ndcg_at_10"], c["stsb_spearman"] - best["stsb_spearman"]
        ok = d_sf >= -0.1 and d_sts >= 1.0
        verdict = (f"\nChosen on validation: {chosen}. Best single fine-tuned checkpoint on SciFact test (of those "
                   f"test-evaluated): {best['label']} ({best['scifact_ndcg_at_10']:.2f} / {best['stsb_spearman']:.2f}). "
                   f"Chosen - best: SciFact {d_sf:+.2f}, STSB {d_sts:+.2f} -> targets (>= -0.1, >= +1.0) "
                   f"{'MET' if ok else 'NOT MET'}.")
    table = "\n".join(lines) + "\n" + verdict
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.md").write_text(table + "\n")
    (out_dir / f"{stem}.json").write_text(json.dumps({"chosen": chosen, "sts_weight": sts_weight, "rows": rows},
                                                     indent=1) + "\n")
    if len(test) >= 2:
        plot(test, chosen, out_dir / f"{stem}.png")
    return table


def plot(test: dict, chosen: str | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(test)
    pts = [(test[k]["scifact_ndcg_at_10"], test[k]["stsb_spearman"]) for k in labels]
    front = sorted(pareto(pts), key=lambda i: pts[i][0])
    fig, ax = plt.subplots(figsize=(9, 6.5))
    for k, (x, y) in zip(labels, pts):
        role = test[k].get("role")
        style = ({"marker": "s", "color": "gray"} if k.startswith("base") else
                 {"marker": "o", "color": "tab:blue"} if role == "input" else
                 {"marker": "v", "color": "tab:purple"} if role == "probe" else {"marker": "^", "color": "tab:orange"})
        ax.scatter([x], [y], s=45, zorder=3, **style)
        ax.annotate(k.replace("all-MiniLM-L6-v2", "").replace("(base -> ", "("), (x, y), fontsize=6.5,
                    xytext=(4, 3), textcoords="offset points")
    ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], "--", color="tab:green", lw=1,
            label="Pareto front (test)", zorder=2)
    if chosen in test:
        ax.scatter([test[chosen]["scifact_ndcg_at_10"]], [test[chosen]["stsb_spearman"]], s=220, facecolors="none",
                   edgecolors="red", lw=1.5, zorder=4, label="chosen on validation")
    ax.scatter([], [], marker="s", color="gray", label="base")
    ax.scatter([], [], marker="o", color="tab:blue", label="fine-tuned checkpoint")
    ax.scatter([], [], marker="^", color="tab:orange", label="merge")
    if any(test[k].get("role") == "probe" for k in labels):
        ax.scatter([], [], marker="v", color="tab:purple", label="probe: WiSE base -> soup (never chosen)")
    ax.set_xlabel("SciFact test nDCG@10 (fp32)")
    ax.set_ylabel("STSB test Spearman (fp32)")
    ax.set_title("all-MiniLM-L6-v2 fine-tuned on SciFact: in-domain vs out-of-domain")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def corpus_docs(value: str) -> str:
    """``--val-corpus-docs``: 'full' or a count of documents >= 0."""
    if value != "full" and not (value.isdigit()):
        raise argparse.ArgumentTypeError(f"expected 'full' or a number of documents >= 0, got {value!r}")
    return value


def main() -> int:
    ap = harness.parser("merge_robustness", __doc__)
    ap.add_argument("--cache-dir", default=None,
                    help="embedding cache (default WORK/cache; give recipe_pipeline the same one to share it)")
    ap.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    ap.add_argument("--save-every", type=int, default=5, help="checkpoint every N steps (default 5)")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--val-seed", type=int, default=0)
    ap.add_argument("--val-corpus-docs", default="1000", type=corpus_docs,
                    help="random documents in the validation sub-corpus, or 'full': the whole corpus (default 1000)")
    ap.add_argument("--sts-weight", type=float, default=0.5, help="objective = (1-w) val nDCG@10 + w STS dev")
    ap.add_argument("--max-test", type=int, default=14, help="stop after this many test evaluations (0: no limit)")
    ap.add_argument("--smoke", action="store_true", help="tiny data and 2 training steps (checks the path)")
    ap.add_argument("--report-only", action="store_true", help="only write the table, JSON and PNG")
    args = ap.parse_args()
    if args.smoke:  # tiny models' rows never reach the saved table or the shared cache
        args.work, args.cache_dir, args.save = args.work / "smoke", None, False
        args.val_corpus_docs = "30"
        args.save_every = 1
    harness.setup(args)
    args.cache_dir = args.cache_dir or str(args.work / "cache")
    if not args.report_only:
        Bench(args).run()
    out_dir = harness.RESULTS if args.save else args.work / "report"
    print(report(Path(args.work), out_dir, "merge_robustness", args.sts_weight))
    return 0


if __name__ == "__main__":
    sys.exit(main())
