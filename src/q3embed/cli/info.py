from __future__ import annotations

import json

from ._common import add_verb


def register(sub) -> None:
    p = add_verb(sub, "info", run, "show a checkpoint's kind, width, layers, dtype and device")
    p.add_argument("model", help="checkpoint directory or hub name")
    p.add_argument("--device", default=None, help="device to report for loading (default: best available)")
    p.add_argument("--dtype", default=None, help="dtype to report for loading (default: automatic)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    from ..model.layout import read_layout
    from ..model.loading import pick_device, pick_dtype, weight_files
    from ..model.resolve import resolve_model_path

    root = resolve_model_path(args.model)
    layout = read_layout(root)
    files = weight_files(layout.model_dir)
    device = pick_device(args.device)
    kind = layout.describe_kind()
    info = {
        "path": str(root),
        "kind": kind,
        "model_type": layout.model_type,
        "width": layout.hidden_size,
        "layers": layout.num_layers,
        "dtype": str(pick_dtype(args.dtype, device, layout.stored_dtype)).removeprefix("torch."),
        "stored_dtype": layout.stored_dtype,
        "device": str(device),
        "weights": [f.name for f in files],
        "weights_bytes": sum(f.stat().st_size for f in files),
        "prompts": layout.prompts,
    }
    if layout.is_vl:  # Qwen3-VL: the vision tower beside the language model
        info["vision"] = {"layers": layout.vision_layers, "width": layout.vision_hidden_size,
                          "inputs": "text, images, PDF pages (docs/multimodal.md)"}
    if args.json:
        print(json.dumps(info))
    else:
        print_fields(info)
    return 0


def print_fields(info: dict, indent: int = 0) -> None:
    """``key: value`` lines for people: no Python reprs (None, [...], {...}, '\\n').

    Top-level keys are right-aligned; a nested mapping is listed under its key, left-aligned where
    the values start.
    """
    width = max(map(len, info), default=0)
    for k, v in info.items():
        label = f"{k:>{width}}" if indent == 0 else f"{' ' * indent}{k}"
        if isinstance(v, dict) and v:
            print(f"{label}:")
            print_fields(v, (width + 2) if indent == 0 else indent + 2)
        else:
            print(f"{label}: {_plain(k, v)}")


def _plain(key: str, value) -> str:
    if value is None or value in ({}, [], ""):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(key, v) for v in value)
    if isinstance(value, int) and key.endswith("bytes"):
        return _size(value)
    return str(value).replace("\n", " ↵ ")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
