"""The safetensors file format, read by hand: header, tensor offsets, row blocks.

Loading checks every shard's header before transformers reads it; merging streams tensors
row-block by row-block from the offsets. Both use this module, so neither reaches into the other.
A safetensors file is an 8-byte little-endian header length, a JSON header, then raw data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
def check_safetensors_header(path: Path) -> tuple[dict, int]:
    """Read a safetensors header and check the file is as long as the header says.

    Returns the header and the byte offset where the tensor data begins (``merge`` streams from it).
    """
    if not path.exists():
        raise CheckpointError(f"missing weight shard {path}")
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if n <= 0 or 8 + n > size:
                raise ValueError("header length out of range")
            header = json.loads(fh.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end > size:
            raise ValueError(f"file is truncated ({size} bytes, header needs {8 + n + end})")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"corrupt safetensors file {path}: {e}") from None
    return header, 8 + n


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]
    path: Path
    offset: int  # absolute byte offset of the tensor's data in ``path``
    nbytes: int

    @property
    def rows(self) -> int:
        """Leading dimension, the unit of streaming (a 0-d tensor is one row)."""
        return self.shape[0] if self.shape else 1

    @property
    def row_numel(self) -> int:
        return math.prod(self.shape[1:]) if self.shape else 1


def read_header(path: Path) -> dict[str, TensorInfo]:
    """The tensors of one .safetensors file (checked against the file's length), by name."""
    header, data_start = check_safetensors_header(path)
    infos = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta.get("dtype") not in DTYPES:
            raise CheckpointError(f"corrupt safetensors file {path}: tensor {name!r} has dtype {meta.get('dtype')}, "
                                  f"not one of {', '.join(DTYPES)}")
        begin, end = meta["data_offsets"]
        infos[name] = TensorInfo(name, DTYPES[meta["dtype"]], tuple(meta["shape"]), path, data_start + begin, end - begin)
    return infos


def read_rows(info: TensorInfo, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Rows [start, stop) of a tensor, read straight from disk into a fresh buffer."""
    stop = info.rows if stop is None else stop
    row_bytes = info.nbytes // info.rows if info.rows else 0
    buf = torch.empty((stop - start) * row_bytes, dtype=torch.uint8)
    with open(info.path, "rb") as fh:
        fh.seek(info.offset + start * row_bytes)
        got = fh.readinto(buf.numpy()) if buf.numel() else 0
    if got != buf.numel():
        raise CheckpointError(f"{info.path}: tensor {info.name!r} is truncated")
    shape = (stop - start, *info.shape[1:]) if info.shape else ()
    return buf.view(info.dtype).reshape(shape)
