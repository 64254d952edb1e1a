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
from pathlib import Path

import torch

from ..errors import CheckpointError
from ..model.safetensors_file import DTYPE_NAMES, TensorInfo, read_header

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


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

    On any exception (or Ctrl-C) the temporary directory is deleted and ``out`` is untouched. A
    kill -9 cannot clean up, so each run first removes the staging folders of dead runs
    (``remove_stale_staging``).
    """
    out = Path(out)
    remove_stale_staging(out)
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


def remove_stale_staging(out: Path) -> list[Path]:
    """Clear what killed runs left beside ``out``; returns the folders removed or restored.

    A ``.OUT.partial-PID`` folder whose process is gone is an unfinished merge (GBs for a large
    model): deleted. A ``.OUT.old-PID`` is the previous ``out``, moved aside by an overwrite that was
    killed before it finished: deleted when ``out`` exists, else renamed back to ``out``, so the
    last complete output is never lost. A folder whose process still runs (or whose pid cannot be
    read) is left alone.
    """
    out = Path(out)
    if not out.parent.is_dir():
        return []
    cleared = []
    for kind in ("partial", "old"):
        for p in sorted(out.parent.glob(f".{out.name}.{kind}-*")):
            pid = p.name.rsplit("-", 1)[1]
            if not pid.isdigit() or _process_alive(int(pid)):
                continue
            if kind == "old" and not out.exists():
                p.rename(out)
            elif p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            cleared.append(p)
    return cleared


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # it exists, under another user
        return True
    return True
