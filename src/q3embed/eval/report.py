"""Results files and the summary table: a row per model, a column per task, means by task type.

A results file is the JSON of one evaluator's result dict (``save_result``). MTEB's own
TaskResult JSON files are read too, so local and MTEB runs can share one table.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import InputFileError

# q3embed task -> MTEB task type, the unit of "mean by type"
TASK_TYPES = {"retrieval": "Retrieval", "sts": "STS", "bitext": "BitextMining", "rerank": "Reranking"}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(text)).name or str(text)).strip("_")[:80] or "model"


def default_result_path(result: dict, out_dir: str | Path = "eval-results", suffix: str = "") -> Path:
    """``{out_dir}/{model key}__{task}__{dataset}{suffix}.json`` (``model_key``: name and identity)."""
    model = model_key(str(result.get("model", "model")))
    return Path(out_dir) / f"{model}__{result['task']}__{slug(result.get('dataset', 'data'))}{suffix}.json"


def model_key(model: str) -> str:
    """``final-3f9a0c12``: the model folder's name and a hash of its resolved path (a hub name is
    hashed as written). Training runs all end in a folder called ``final``: by name alone, two
    different models would write the same results file."""
    import hashlib

    path = Path(model).expanduser()
    identity = str(path.resolve()) if path.exists() else model
    return f"{slug(model)}-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"


def save_result(result: dict, path: str | Path) -> Path:
    """Write ``result`` as JSON (the per-query run, if present, is left out)."""
    from .. import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in result.items() if k != "run"}
    record.setdefault("q3embed_version", __version__)
    record.setdefault("date", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_results(paths: Iterable[str | Path]) -> tuple[list[dict], list[str]]:
    """Read results files (q3embed or MTEB TaskResult JSON); returns (rows, notes about skipped files).

    Each row: {"model", "task_type", "column", "score" (fraction), "dim"}. Folders are searched
    for ``*.json``.
    """
    rows, notes = [], []
    for path in _expand(paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise InputFileError(f"cannot read results file {path}: {e}") from None
        except json.JSONDecodeError as e:
            raise InputFileError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
        if isinstance(data, dict) and "task_name" in data and "scores" in data:
            rows.extend(_mteb_rows(path, data, notes))
        elif isinstance(data, dict) and data.get("task") in TASK_TYPES and "main_score" in data:
            label = data.get("dataset", path.stem)
            if data["task"] == "rerank":
                label += " (rerank)"
            rows.append({"model": str(data.get("model", "?")), "task_type": TASK_TYPES[data["task"]], "column": label,
                         "score": float(data["main_score"]), "dim": data.get("dim")})
        elif isinstance(data, dict) and str(data.get("task", "")).startswith("mrl-"):
            notes.append(f"{path}: MRL sweep, not a single score (left out of the table)")
        else:
            notes.append(f"{path}: not a q3embed or MTEB results file (skipped)")
    return rows, notes


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.json") if q.name != "model_meta.json"))
        elif p.is_file():
            out.append(p)
        else:
            raise InputFileError(f"{p}: no such results file or folder")
    return out


def _mteb_rows(path: Path, data: dict, notes: list[str]) -> list[dict]:
    """One row per MTEB TaskResult: the mean main_score over its subsets of the first split."""
    scores = data["scores"]
    if not scores:
        notes.append(f"{path}: MTEB result with no scores (skipped)")
        return []
    split = "test" if "test" in scores else next(iter(scores))
    mains = [s["main_score"] for s in scores[split] if "main_score" in s]
    if not mains:
        notes.append(f"{path}: MTEB result without main_score (skipped)")
        return []
    meta_file = path.parent / "model_meta.json"
    model = path.parent.parent.name if path.parent.parent.name else "?"
    if meta_file.is_file():
        model = json.loads(meta_file.read_text()).get("name") or model
    task_type = data.get("task_type") or _mteb_task_type(data["task_name"]) or "Other"
    return [{"model": model, "task_type": task_type, "column": data["task_name"], "score": sum(mains) / len(mains),
             "dim": None}]


def _mteb_task_type(name: str) -> str | None:
    try:
        import mteb

        return mteb.get_task(name).metadata.type
    except Exception:  # unknown task or mteb missing: the caller files it under "Other"
        return None


def markdown_report(rows: list[dict]) -> str:
    """Markdown table: Model | task columns (x100) | mean per task type | Mean (Task) | Mean (Type).

    Means cover the tasks a model has; a model missing some column is marked with *.
    """
    if not rows:
        raise ValueError("no results to report")
    dims_per_model: dict[str, set] = {}
    for r in rows:
        dims_per_model.setdefault(r["model"], set()).add(r["dim"])
    table: dict[str, dict[str, dict]] = {}
    for r in rows:
        name = Path(r["model"]).name or r["model"]
        label = f"{name} @{r['dim']}" if len(dims_per_model[r["model"]]) > 1 else name
        table.setdefault(label, {})[r["column"]] = r  # a later file for the same cell wins
    type_of = {r["column"]: r["task_type"] for r in rows}
    columns = sorted(type_of, key=lambda c: (type_of[c], c.lower()))
    types = sorted(set(type_of.values()))
    header = ["Model", *columns, *(f"{t} mean" for t in types), "Mean (Task)", "Mean (Type)"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for model, cells in table.items():
        by_type = {t: [100 * c["score"] for c in cells.values() if c["task_type"] == t] for t in types}
        type_means = {t: sum(v) / len(v) for t, v in by_type.items() if v}
        all_scores = [100 * c["score"] for c in cells.values()]
        mark = "*" if len(cells) < len(columns) else ""
        row = [model + mark]
        row += [f"{100 * cells[c]['score']:.2f}" if c in cells else "–" for c in columns]
        row += [f"{type_means[t]:.2f}" if t in type_means else "–" for t in types]
        row += [f"{sum(all_scores) / len(all_scores):.2f}", f"{sum(type_means.values()) / len(type_means):.2f}"]
        lines.append("| " + " | ".join(row) + " |")
    if any(len(cells) < len(columns) for cells in table.values()):
        lines.append("")
        lines.append("\\* missing some tasks: its means cover only the tasks it has.")
    return "\n".join(lines)
