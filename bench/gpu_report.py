"""The GPU suite's verdicts on its speed targets and its markdown table (no torch import)."""

from __future__ import annotations

# (label, section, how to read the figure, goal)
TARGETS = [
    ("0.6B q3embed MFU (bf16 peak) >= 40%, mixed-length corpus", "embed-0.6B", ("peers", "q3embed_big", "mfu_bf16"), 0.40),
    ("8B q3embed MFU (bf16 peak) >= 55%", "embed-8B", ("peers", "q3embed_big", "mfu_bf16"), 0.55),
    ("0.6B q3embed >= 3x the model card's fp16 path", "embed-0.6B", ("ratios", "q3embed_big/card_fp16"), 3.0),
    ("0.6B q3embed defaults >= 3x the model card's fp16 path", "embed-0.6B", ("ratios", "q3embed/card_fp16"), 3.0),
]


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def targets(results: dict) -> list[dict]:
    out = []
    for label, section, keys, goal in TARGETS:
        value = _dig(results["sections"].get(section, {}).get("figures", {}), keys)
        out.append({"target": label, "value": value, "goal": goal,
                    "met": None if value is None else bool(value >= goal)})
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def markdown(results: dict) -> str:
    secs = results["sections"]
    env = secs.get("env", {}).get("figures", {})
    lines = [f"# q3embed GPU suite{' (CPU dry run)' if results.get('dry_run') else ''}", "",
             f"{results.get('started', '')}; {env.get('gpu', env.get('device', '?'))}; torch {env.get('torch', '?')}; "
             f"transformers {env.get('transformers', '?')}; bf16 matmul peak {_fmt(env.get('bf16_gflops'))} GFLOP/s; "
             f"total {results.get('seconds', '?')} s", "",
             "| section | status | seconds | note |", "|---|---|---|---|"]
    for name, r in secs.items():
        note = (r.get("error") or "; ".join(r.get("problems", [])) or "").replace("|", "/")[:300]
        lines.append(f"| {name} | {r['status']} | {_fmt(r.get('seconds'))} | {note} |")
    for name in ("embed-0.6B", "embed-8B"):
        fig = secs.get(name, {}).get("figures", {})
        if fig.get("peers"):
            lines += ["", f"## {name}: {fig.get('texts')} texts, {fig.get('tokens')} tokens "
                      f"(padding waste of one batch {fig.get('padding_waste_one_batch')}x)", "",
                      "| peer | tok/s | MFU (bf16 peak) | s | peak GPU GiB | cos min vs card fp32 |", "|---|---|---|---|---|---|"]
            for peer, row in fig["peers"].items():
                if "error" in row:
                    lines.append(f"| {peer} | error: {row['error'][:120]} | | | | |")
                    continue
                lines.append(f"| {peer} | {row['tok_per_s']:.0f} | {100 * row['mfu_bf16']:.1f}% | {row['seconds']} | "
                             f"{row['peak_gpu_gib']} | {_fmt(row.get('cos_min_vs_card_fp32'))} |")
            lines.append(f"\nratios (wall): {fig.get('ratios')}. FLOPs: {fig.get('flops_formula')}")
    rr = secs.get("rerank", {}).get("figures", {})
    for key, fig in rr.items():
        if isinstance(fig, dict) and fig.get("peers"):
            lines += ["", f"## rerank {key}", "", "| peer | pairs/s | s | max dP vs official fp32 | top-10 as fp32 |",
                      "|---|---|---|---|---|"]
            for peer, row in fig["peers"].items():
                if "error" in row:
                    lines.append(f"| {peer} | error: {row['error'][:120]} | | | |")
                    continue
                lines.append(f"| {peer} | {row['pairs_per_s']} | {row['seconds']} | "
                             f"{_fmt(row.get('max_dp_vs_official_fp32'))} | {_fmt(row.get('top10_same_as_fp32'))} |")
            lines.append(f"\nratios (wall): {fig.get('ratios')}")
    lg = secs.get("long", {}).get("figures", {})
    if lg.get("peers"):
        lines += ["", f"## long: one {lg.get('tokens')}-token document (weights {lg.get('weights_bf16_gib')} GiB bf16)", "",
                  "| peer | s | peak GPU GiB |", "|---|---|---|"]
        for peer, row in lg["peers"].items():
            lines.append(f"| {peer} | {_fmt(row.get('seconds'))} | {_fmt(row.get('peak_gpu_gib', row.get('error')))} |")
    ck = secs.get("checks", {}).get("figures", {})
    if ck:
        lines += ["", "## checks (half precision vs fp32 reference, tiny models)", "",
                  "| check | cosine min / max dP vs fp32 | vs loop | top-10 same | varlen calls | kept |", "|---|---|---|---|---|---|"]
        for k, f in ck.items():
            if isinstance(f, dict):
                lines.append(f"| {k} | {_fmt(f.get('cosine_min', f.get('max_dp_vs_fp32')))} | "
                             f"{_fmt(f.get('max_dp_vs_loop'))} | {_fmt(f.get('top10_same'))} | {f.get('varlen_calls')} | "
                             f"{f.get('varlen_kept')} |")
    lines += ["", "## speed targets", "", "| target | value | met |", "|---|---|---|"]
    for t in results.get("targets", []):
        lines.append(f"| {t['target']} | {_fmt(t['value'])} | {_fmt(t['met'])} |")
    return "\n".join(lines) + "\n"
