"""``build_on_ray``: embed a corpus on a Ray cluster into an embedded index.

    corpus shards --Ray Data read--> map_batches(EmbedRecords, actor pool) --stream--> driver --> store

Workers only compute vectors; the driver alone writes, so a worker that dies mid-batch leaves nothing
behind. Ray restarts the actor and re-runs the batch (``max_restarts``/``max_task_retries``), and the
driver receives each output block once. The driver commits whole documents only (rows carry their
document's chunk count), in parts that survive its own death: the same command again skips them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..stores.chunking import ChunkingConfig
from .corpus_files import corpus_files, read_dataset
from .embed_actor import EmbedRecords
from .targets import IndexTarget, StoreTarget

log = logging.getLogger(__name__)


@dataclass
class RayBuildConfig:
    """How to run: ``address`` None = ``ray.init()`` (a local cluster, or RAY_ADDRESS), "auto" = the running
    cluster, else a cluster address (``host:6379`` or ``ray://host:10001``)."""

    address: str | None = None
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    docs_per_batch: int = 256  # corpus records per map_batches call (one Ray task)
    part_rows: int = 8192  # chunks per staged part (the unit a killed driver keeps)
    progress_every_s: float = 10.0
    init_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.gpus_per_worker < 0 or self.cpus_per_worker <= 0:
            raise ValueError(f"--gpus-per-worker must be >= 0 and --cpus-per-worker > 0, got "
                             f"{self.gpus_per_worker} and {self.cpus_per_worker}")
        if self.docs_per_batch < 1 or self.part_rows < 1:
            raise ValueError("docs_per_batch and part_rows must be >= 1")


def connect(config: RayBuildConfig) -> None:
    """Join (or start) the cluster once per process; a test's session cluster is reused as it is."""
    import ray

    if ray.is_initialized():
        return
    ray.init(address=config.address or None, log_to_driver=False, include_dashboard=False, **config.init_kwargs)


def build_on_ray(out: str | Path, corpus: str | Path, model: str, *, config: RayBuildConfig | None = None,
                 dim: int | None = None, dtype: str = "float32", instruction: str | None = None,
                 chunk_tokens: int = 0, chunk_overlap: int = 0, device: str | None = None,
                 torch_dtype: str | None = None, max_length: int | None = None, batch_size: int = 32,
                 overwrite: bool = False, resume: bool = False, show_progress: bool = True):
    """Embed ``corpus`` (a JSONL/Parquet file or a folder of shards) with ``model`` into ``out``: an index
    directory, or a store URL (``postgresql://...?collection=NAME``, ``qdrant://...?collection=NAME``) written directly.

    Returns the opened store. A killed run, started again with the same arguments, continues:
    documents in parts it had staged are not embedded again.
    """
    import ray
    from ray.data import ActorPoolStrategy

    from ..stores.open import is_store_url
    from .model_card import make_card

    config = config or RayBuildConfig()
    kind, files = corpus_files(corpus)  # bad input fails before a cluster starts
    chunking = ChunkingConfig(chunk_tokens, chunk_overlap)
    if is_store_url(str(out)):
        target = StoreTarget(str(out), dim, dtype, instruction, chunking, overwrite, resume)
    else:
        out = Path(out).expanduser().resolve()
        settings = {"corpus": files, "model": str(model), "dim": dim, "dtype": dtype, "instruction": instruction,
                    "chunking": asdict(chunking), "max_length": max_length}
        target = IndexTarget(out, settings, dim, dtype, instruction, chunking, overwrite, resume)
    done = target.done

    connect(config)
    _quiet_ray_data()
    gpu = config.gpus_per_worker > 0
    worker_device = device or ("cuda" if gpu else "cpu")
    card_ref = None
    if target.needs_card:  # the probe a new store records; loads beside the pool, not in the driver
        card_ref = ray.remote(num_cpus=0, num_gpus=config.gpus_per_worker)(make_card).remote(
            str(model), dim, worker_device, torch_dtype, max_length)
    # Enough blocks that every actor has work even when the corpus is one file.
    ds = read_dataset(kind, files, blocks=max(len(files), 4 * config.workers)).map_batches(
        EmbedRecords, batch_format="pandas", batch_size=config.docs_per_batch,
        # A fixed pool; Ray Data restarts a killed actor and re-runs its batch without limit (its default for
        # actor pools, max_restarts=-1 and max_task_retries=-1). Only the driver writes, so nothing doubles.
        compute=ActorPoolStrategy(size=config.workers),
        num_cpus=config.cpus_per_worker, num_gpus=config.gpus_per_worker,
        fn_constructor_kwargs={"model": str(model), "dim": dim, "chunking": (chunk_tokens, chunk_overlap),
                               "device": worker_device, "torch_dtype": torch_dtype, "max_length": max_length,
                               "batch_size": batch_size, "threads": max(1, int(config.cpus_per_worker)),
                               "skip_ids": frozenset(done)})
    cache = {}

    def card():
        if "card" not in cache:
            cache["card"] = ray.get(card_ref)
        return cache["card"]

    writer = _PartWriter(lambda vectors, rows: target.write(vectors, rows, card), config.part_rows)
    started = time.perf_counter()
    last = started
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        writer.take(batch)
        now = time.perf_counter()
        if show_progress and now - last >= config.progress_every_s:
            log.info(progress_line(writer.documents, now - started, writer.parts, config.part_rows))
            last = now
    writer.flush(final=True)
    return target.finish(card)


def progress_line(documents: int, seconds: float, parts: int, part_rows: int) -> str:
    """``ray: embedded 200 documents (41.0 docs/s); ...``: what is embedded, and what is safe on disk.

    Embedded documents are held until a part of ``part_rows`` chunks fills, so early on none is
    written yet: that is said in words, not as "0 parts written" beside a growing count."""
    rate = documents / seconds if seconds > 0 else 0.0
    kept = (f"{parts:,} part{'s' if parts != 1 else ''} of up to {part_rows:,} chunks written (a restart keeps them)"
            if parts else f"written when {part_rows:,} chunks fill a part, or at the end")
    return f"ray: embedded {documents:,} documents ({rate:.1f} docs/s); {kept}"


class _PartWriter:
    """Collects output rows until documents are whole, and stages them in parts of ``part_rows`` chunks."""

    def __init__(self, write, part_rows: int):
        self.write, self.part_rows = write, part_rows
        self.parts = 0
        # A batch that Ray re-ran after a worker died may deliver rows twice: chunks are kept by number (a
        # copy replaces, never counts twice) and a document already handed to ``write`` is not handed again.
        self.open_docs: dict[str, dict[int, tuple[dict, np.ndarray]]] = {}  # documents not yet whole
        self.written: set[str] = set()
        self.rows: list[dict] = []
        self.vectors: list[np.ndarray] = []
        self.documents = 0

    def take(self, batch: dict) -> None:
        vectors = np.asarray(batch["vector"], dtype=np.float32)  # (rows, dim)
        for k in range(len(batch["id"])):
            rec = {"id": str(batch["id"][k]), "chunk": int(batch["chunk"][k]), "n_chunks": int(batch["chunks"][k]),
                   "start": int(batch["start"][k]),
                   "end": int(batch["end"][k]), "text": str(batch["text"][k])}
            if batch["meta"][k]:
                import json

                rec["meta"] = json.loads(batch["meta"][k])
            if rec["id"] in self.written:
                continue
            pieces = self.open_docs.setdefault(rec["id"], {})
            pieces[rec["chunk"]] = (rec, vectors[k])
            if len(pieces) == rec["n_chunks"]:
                for _, (r, v) in sorted(pieces.items()):
                    self.rows.append(r)
                    self.vectors.append(v)
                del self.open_docs[rec["id"]]
                self.written.add(rec["id"])
                self.documents += 1
        self.flush()

    def flush(self, final: bool = False) -> None:
        if self.rows and (final or len(self.rows) >= self.part_rows):
            self.write(np.stack(self.vectors), self.rows)
            self.rows, self.vectors = [], []
            self.parts += 1
        if final and self.open_docs:
            raise RuntimeError(f"{len(self.open_docs)} documents arrived with missing chunks; nothing of them was stored")


def _quiet_ray_data() -> None:
    """The driver logs its own progress line; Ray Data's bars and per-operator logs would bury it."""
    import warnings

    from ray.data import DataContext

    with warnings.catch_warnings():  # Ray 2.60's DataContext sets its own deprecated fields when it is made
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="ray.data.context")
        ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
