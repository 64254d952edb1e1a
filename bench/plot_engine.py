"""Bar charts of the engine benches, drawn from their saved output (bench/results/*.log).

The benches print one line per peer, e.g.
``  mixed:c   35.34 s (CPU 35.1 s, load 1->1)  165.1 tok/s ...`` (embed_throughput.py) or
``  c   42.24 s (CPU 41.9 s, load 2->2)  2.37 pairs/s ...`` (rerank_throughput.py).
This script reads those lines and plots work per CPU second (the figure the results file
trusts on a shared machine), so a rerun of a bench piped to a log redraws its chart:

    cd bench && python embed_throughput.py --threads 1 --n-texts 48 --peers c,a,a_bf16,b,c_int8,c_fp32 \\
        | tee results/embed_throughput_48.log
    python bench/plot_engine.py bench/results/embed_throughput_48.log bench/results/rerank_throughput_1x100.log
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

LINE = re.compile(r"^\s+(?:\w+:)?(?P<peer>[a-z_0-9]+)\s+[\d.]+ s \(CPU (?P<cpu>[\d.]+) s")
SETTING = re.compile(r"^(mixed corpus|long documents|\d+ x \d+): ")

LABELS = {
    "a": "README fp32", "a_bf16": "README bf16", "a_fp16": "README fp16", "b": "sentence-transformers",
    "c": "q3embed defaults", "c_fp32": "q3embed fp32", "c_int8": "q3embed int8", "c_auto": "q3embed auto",
    "c_padded": "q3embed padded", "official": "official fp32", "official_half": "official bf16",
}


def parse(log: Path) -> tuple[str, dict[str, float], str, float]:
    """(setting, {peer: CPU seconds}, unit, amount of work) from one bench log (the first setting in it)."""
    setting, cpu, unit, work = "", {}, "", 0.0
    for line in log.read_text().splitlines():
        if (m := SETTING.match(line)) and not setting:
            setting = line.strip()
            if n := re.search(r"([\d,]+) tokens", line):
                unit, work = "tokens", float(n.group(1).replace(",", ""))
            if n := re.search(r"(\d+) pairs", line):
                unit, work = "pairs", float(n.group(1))
        elif (m := LINE.match(line)) and setting:
            cpu.setdefault(m["peer"], float(m["cpu"]))
    if not cpu or not work:
        raise SystemExit(f"{log}: no bench peer lines found; expected the output of embed_/rerank_throughput.py")
    return setting, cpu, unit, work


def plot(log: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    setting, cpu, unit, work = parse(log)
    peers = sorted(cpu, key=lambda p: cpu[p], reverse=True)  # slowest first: the q3embed bars end up on the right
    rates = [work / cpu[p] for p in peers]
    colors = ["tab:green" if p.startswith("c") else "tab:gray" for p in peers]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bars = ax.bar([LABELS.get(p, p) for p in peers], rates, color=colors)
    for bar, rate in zip(bars, rates):
        ax.annotate(f"{rate:.2f}" if rate < 10 else f"{rate:.1f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylabel(f"{unit} per CPU second (1 thread)")
    ax.set_title(f"{log.stem}: {setting.split(';')[0]}", fontsize=9)
    ax.tick_params(axis="x", labelrotation=25, labelsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+", type=Path, help="saved bench output")
    args = ap.parse_args()
    for log in args.logs:
        print(f"wrote {plot(log, log.with_suffix('.png'))}")


if __name__ == "__main__":
    main()
