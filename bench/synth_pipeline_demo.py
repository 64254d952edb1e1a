"""The three-stage pipeline end to end, offline: the fake LLM (tests/synth/fake_llm.py) and a
tiny random Qwen3 (2 layers, genuine vocabulary). Shows the mechanics and the table's shape;
the scores of a random 2-layer model say nothing about the recipe's quality.

    python bench/synth_pipeline_demo.py [--work /tmp/q3embed_pipeline_demo]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "synth"))

from fake_llm import FakeLLM  # noqa: E402
from test_synth_pipeline import write_recipe  # noqa: E402

from q3embed.model.tiny import save_tiny_qwen3  # noqa: E402
from q3embed.pipeline.recipe import Pipeline  # noqa: E402
from q3embed.pipeline.config import load_recipe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/q3embed_pipeline_demo"))
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    base = save_tiny_qwen3(args.work / "tiny_base", kind="embedding", seed=0)
    log("built the tiny Qwen3 base model")
    with FakeLLM() as llm:
        path = write_recipe(args.work, base, llm)
        import os

        os.chdir(args.work)  # the recipe's relative paths
        table = Pipeline(load_recipe(path), log=log).run()
    print(table)
    log(f"done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
