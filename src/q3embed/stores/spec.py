"""What an index was built with. Recorded in every commit and checked before any search."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .analysis import DEFAULT_ANALYZER, check_analyzer
from .binary import check_binary_dim
from .chunking import ChunkingConfig
from .errors import IndexMismatchError
from .storage import check_storage_dtype

# Two fixed documents embedded at build time. A query-side embedder must reproduce them
# (cosine >= PROBE_MIN_COSINE) or it is not the model the index was built with, whatever its name.
PROBE_TEXTS = (
    "The mitochondria is the powerhouse of the cell.",
    "Der schnelle braune Fuchs springt über den faulen Hund; 快速的棕色狐狸跳过了懒狗。",
)
# bf16 on a GPU against fp32 on a CPU still agrees to ~0.999; different checkpoints do not.
PROBE_MIN_COSINE = 0.99


@dataclass(frozen=True)
class IndexSpec:
    model: str  # the name or path the index was built with (shown in messages; loaded by `index add`)
    width: int  # the model's full embedding width
    dim: int  # the stored (MRL) dimension
    dtype: str = "float32"
    instruction: str | None = None  # query instruction; None = the model's default
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    probe: tuple[tuple[float, ...], ...] = ()  # PROBE_TEXTS embedded at `dim`
    binary_dim: int = 0  # sign bits kept for a binary first pass (the first binary_dim dims); 0 = none
    analyzer: str = DEFAULT_ANALYZER  # how lexical search cuts text into terms, at index and query time

    def __post_init__(self) -> None:
        check_storage_dtype(self.dtype)
        if not 1 <= self.dim <= self.width:
            raise ValueError(f"index dim {self.dim} must be in 1..{self.width} (the model width)")
        check_binary_dim(self.binary_dim, self.dim)
        check_analyzer(self.analyzer)

    def to_json(self) -> dict:
        d = asdict(self)
        d["probe"] = [list(p) for p in self.probe]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "IndexSpec":
        d = dict(d)
        d["chunking"] = ChunkingConfig(**d.get("chunking", {}))
        d["probe"] = tuple(tuple(float(x) for x in p) for p in d.get("probe", ()))
        return cls(**d)

    def describe(self) -> str:
        chunks = f"{self.chunking.tokens}-token chunks, overlap {self.chunking.overlap}" if self.chunking.enabled \
            else "no chunking"
        binary = f", {self.binary_dim}-bit binary first pass" if self.binary_dim else ""
        return f"model {self.model!r}, dim {self.dim}, {self.dtype}{binary}, {chunks}"


def new_spec(embedder, dim: int | None = None, dtype: str = "float32", instruction: str | None = None,
             chunking: ChunkingConfig | None = None, binary_dim: int = 0) -> IndexSpec:
    """The spec a new store records: the embedder's name, width, the (MRL) dim and its probe vectors."""
    dim = embedder.check_dim(dim) if hasattr(embedder, "check_dim") else int(dim or embedder.width)
    check_binary_dim(binary_dim, dim)  # before the probe is embedded: a bad knob fails fast
    return IndexSpec(model=model_reference(embedder), width=int(embedder.width), dim=dim, dtype=dtype,
                     instruction=instruction, chunking=chunking or ChunkingConfig(),
                     probe=tuple(map(tuple, embed_probe(embedder, dim).tolist())), binary_dim=int(binary_dim))


def model_reference(embedder) -> str:
    """What to record as the model: a local directory as an absolute path (so `search` works from
    any working directory), a hub name as given."""
    name = str(getattr(embedder, "name", ""))
    path = Path(name).expanduser()
    return str(path.resolve()) if name and path.is_dir() else name


def embed_probe(embedder, dim: int) -> np.ndarray:
    """(2, dim) float32 probe vectors from ``embedder``."""
    return np.asarray(embedder.encode_documents(list(PROBE_TEXTS), dim=dim), dtype=np.float32)


def probe_agreement(spec: IndexSpec, probe: np.ndarray) -> float:
    """Smallest cosine between the recorded probe and a fresh one (1.0 when nothing is recorded)."""
    if not spec.probe:
        return 1.0
    ref = np.asarray(spec.probe, dtype=np.float32)  # (2, dim)
    if ref.shape != probe.shape:
        return -1.0
    cos = (ref * probe).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(probe, axis=1) + 1e-12)
    return float(cos.min())


def query_matrix(queries, spec: IndexSpec, where: str, encode) -> tuple[bool, np.ndarray]:
    """(single, (Q, dim) float32 vectors) from a str or list of str (embedded by ``encode``) or vectors.

    Vectors of another dim are refused: they come from another model or MRL width than ``where`` holds.
    """
    if isinstance(queries, str) or (isinstance(queries, (list, tuple)) and queries and isinstance(queries[0], str)):
        single = isinstance(queries, str)
        return single, np.asarray(encode([queries] if single else list(queries)), dtype=np.float32)
    qv = np.asarray(queries, dtype=np.float32)
    single = qv.ndim == 1
    qv = qv.reshape(1, -1) if single else qv
    if qv.ndim != 2 or qv.shape[1] != spec.dim:
        raise IndexMismatchError(f"query vectors have shape {np.shape(queries)}; {where} holds dim-{spec.dim} "
                                 f"vectors ({spec.describe()})")
    return single, qv
