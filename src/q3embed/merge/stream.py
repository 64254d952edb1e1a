"""Streaming safetensors I/O: read a checkpoint row-block by row-block, write sharded output.

Reading parses the safetensors header (8-byte little-endian length, JSON, raw data) and
``readinto``s exactly the requested rows of one tensor: no mmap, so the resident memory is
the blocks in flight, not the file (mmap'd pages would count in RSS until unmapped).

Writing knows every output tensor's dtype and shape up front (a merge keeps the inputs'
shapes), so each shard's header is written first and the data appended block by block.
The output directory is built under a temporary name beside the target and renamed into
place only when complete, so a failure or Ctrl-C never leaves a partial checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.loading import check_safetensors_header

DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


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


def read_checkpoint_index(model_dir: Path) -> dict[str, TensorInfo]:
    """All tensors of a (possibly sharded) safetensors checkpoint, by name, in file order."""
    index = model_dir / INDEX_FILE
    if index.exists():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index} is not a safetensors index (needs 'weight_map'): {e}") from None
        files = list(dict.fromkeys(weight_map.values()))
    elif (model_dir / SINGLE_FILE).exists():
        files, weight_map = [SINGLE_FILE], None
    else:
        found = ", ".join(sorted(p.name for p in model_dir.glob("*.bin"))) or "none"
        raise CheckpointError(f"no safetensors weights in {model_dir} (expected {SINGLE_FILE} or {INDEX_FILE}; "
                              f".bin files found: {found}); merging streams safetensors only")
    infos: dict[str, TensorInfo] = {}
    for f in files:
        for name, info in sorted(read_header(model_dir / f).items(), key=lambda kv: kv[1].offset):
            infos[name] = info
    if weight_map is not None:
        missing = sorted(set(weight_map) - set(infos))
        if missing:
            raise CheckpointError(f"{index} lists tensor {missing[0]!r} but no shard holds it")
    return infos


def _format_size(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


class ShardedWriter:
    """Writes tensors, in a fixed order, into shards of at most ``max_shard_bytes``.

    ``plan`` is the list of (name, dtype, shape) to write; ``write(name, block)`` appends the
    next row block of the current tensor. One shard gives ``model.safetensors``; several give
    ``model-0000i-of-0000n.safetensors`` plus ``model.safetensors.index.json``.
    """

    def __init__(self, out_dir: Path, plan: list[tuple[str, torch.dtype, tuple[int, ...]]],
                 max_shard_bytes: int = 5 * 2**30):
        self.out_dir = Path(out_dir)
        self.shards: list[list[tuple[str, torch.dtype, tuple[int, ...], int]]] = [[]]
        size = 0
        for name, dtype, shape in plan:
            nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
            if self.shards[-1] and size + nbytes > max_shard_bytes:
                self.shards.append([])
                size = 0
            self.shards[-1].append((name, dtype, tuple(shape), nbytes))
            size += nbytes
        n = len(self.shards)
        self.files = [SINGLE_FILE] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        self._queue = [(i, entry) for i, shard in enumerate(self.shards) for entry in shard]
        self._pos = -1  # index into _queue of the tensor being written
        self._left = 0  # bytes still owed to it
        self._fh = None
        self._shard = -1

    def write(self, name: str, block: torch.Tensor) -> None:
        if self._left == 0:
            self._next_tensor()
        shard, (expected, dtype, _, _) = self._queue[self._pos]
        if name != expected or block.dtype != dtype:
            raise RuntimeError(f"writer expected {expected} ({dtype}), got {name} ({block.dtype})")
        data = block.contiguous().reshape(-1).view(torch.uint8).numpy()
        if data.nbytes > self._left:
            raise RuntimeError(f"tensor {name}: {data.nbytes} bytes written past its size")
        self._fh.write(memoryview(data))
        self._left -= data.nbytes

    def _next_tensor(self) -> None:
        self._pos += 1
        shard, (_, _, _, nbytes) = self._queue[self._pos]
        if shard != self._shard:
            self._open_shard(shard)
        self._left = nbytes

    def _open_shard(self, shard: int) -> None:
        if self._fh is not None:
            self._fh.close()
        self._shard = shard
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, dtype, shape, nbytes in self.shards[shard]:
            header[name] = {"dtype": DTYPE_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            offset += nbytes
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # safetensors pads the header so the data starts 8-byte aligned
        self._fh = open(self.out_dir / self.files[shard], "wb")
        self._fh.write(len(raw).to_bytes(8, "little"))
        self._fh.write(raw)

    def close(self) -> None:
        """Finish the last shard and write the index; refuses if any tensor is incomplete."""
        if self._left or self._pos != len(self._queue) - 1:
            done = self._pos + (self._left == 0)
            raise RuntimeError(f"writer closed after {done} of {len(self._queue)} tensors")
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if len(self.files) > 1:
            total = sum(e[3] for shard in self.shards for e in shard)
            weight_map = {e[0]: self.files[i] for i, shard in enumerate(self.shards) for e in shard}
            (self.out_dir / INDEX_FILE).write_text(json.dumps(
                {"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


@contextlib.contextmanager
def atomic_output_dir(out: Path, overwrite: bool = False):
    """Yield a temporary directory that becomes ``out`` only if the block finishes.

    On any exception (or Ctrl-C) the temporary directory is deleted and ``out`` is untouched.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"output {out} already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():  # overwrite: move the old one aside first so `out` is never half-replaced
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(old)
        tmp.rename(out)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink()
    else:
        tmp.rename(out)
