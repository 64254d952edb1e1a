"""``q3embed data``: fetch standard evaluation sets into the data folder recipes read."""

from __future__ import annotations

import argparse

from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "data", _list, "fetch standard evaluation sets (SciFact, STSBenchmark, ...) from the HF hub",
                 "Fetch evaluation sets from the Hugging Face hub (through the `datasets` library) into a data\n"
                 "folder, in the layouts `q3embed eval` reads. Recipes name them as ${data_dir}/NAME, with\n"
                 "data_dir: data by default, so after\n\n"
                 "  q3embed data fetch scifact stsb\n\n"
                 "recipes/three_stage.yaml and `q3embed eval --data data/scifact` work as written.\n"
                 "A set already in the folder is kept (--overwrite refetches). Offline: one line saying so;\n"
                 "copy the folders in by hand instead.")
    acts = p.add_subparsers(dest="data_action", metavar="ACTION")
    f = acts.add_parser("fetch", help="download evaluation sets", formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Download NAME... into --out (default: data).")
    f.add_argument("names", nargs="+", metavar="NAME", help="evaluation sets (q3embed data list)")
    f.add_argument("--out", default=None, help="data folder (default: data)")
    f.add_argument("--overwrite", action="store_true", help="refetch sets already in the folder")
    f.set_defaults(func=run_fetch)
    ls = acts.add_parser("list", help="list the sets `fetch` knows", description="List the known evaluation sets.")
    ls.set_defaults(func=_list)


def _list(args) -> int:
    from ..eval.fetch import EVAL_SETS

    for s in EVAL_SETS.values():
        print(f"{s.name:<11} {s.task:<9} {s.hub_id:<24} {s.about}")
    return 0


def run_fetch(args) -> int:
    import sys

    from ..eval.fetch import DEFAULT_DATA_DIR, EVAL_SETS, FetchError, fetch

    unknown = [n for n in args.names if n not in EVAL_SETS]
    if unknown:
        raise FetchError(f"unknown evaluation set {', '.join(map(repr, unknown))}; accepted: {', '.join(EVAL_SETS)}")
    for name in args.names:
        path = fetch(name, args.out or DEFAULT_DATA_DIR, overwrite=args.overwrite)
        print(f"{name}: {path}", file=sys.stderr)
    return 0
