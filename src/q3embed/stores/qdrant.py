"""Scale-out: the same corpus, chunks and hits in a Qdrant collection, through qdrant-client.

``QdrantClient(path=...)`` or ``QdrantClient(":memory:")`` runs Qdrant's local mode in-process;
``QdrantClient(url="http://host:6333", api_key=...)`` talks to a server. The adapter is the same
for all three. The collection's metadata records the ``IndexSpec``, so a different model or dim
is refused here exactly as by the local ``Index``.

Qdrant has no multi-operation transactions. A write upserts a document's chunks (point ids are
stable per document and chunk, so a retry overwrites rather than duplicates) and then deletes
the chunks an older, longer version had: a document is never absent, but a kill between the two
steps can leave old trailing chunks, which ``add(..., on_duplicate="skip")`` redoes.

A build marks the collection unfinished in its metadata (``q3embed_building``) until its last
write, as the other stores do, so ``--resume`` and a rerun of a killed build can tell it from a
finished one. Qdrant has no lock a client can hold: in local mode the client already owns its
folder (a second process cannot open it); against a server, ``writer()`` cannot refuse a second
writer, and two concurrent builds of one collection are the operator's to avoid.

By URL (``open_qdrant``/``create_qdrant``, and so ``--store``): ``qdrant://host[:port]?collection=NAME``
for a server (``&https=1`` for TLS; the API key is read from ``QDRANT_API_KEY``), or
``qdrant:///abs/folder?collection=NAME`` for local mode.

Lexical search: a named sparse vector per point holds BM25 term weights with Qdrant's IDF modifier
(``qdrant_lexical``); ``mode="hybrid"`` is one Query API call, dense and sparse prefetches fused by RRF.

Tested here in local mode only: Qdrant's server cannot be started on these machines. Binary search
(``binary_dim`` at create: Qdrant's binary quantization with rescoring and oversampling) runs only on a
server: qdrant-client's local mode drops the quantization config and answers every search exactly.

>>> qs = QdrantStore.from_index(Index.open("scifact.idx"), QdrantClient(url=...), "scifact")
>>> Retriever(embedder, qs, reranker).search("query")
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from .ann import AnnConfig
from .binary import BinaryConfig
from .chunking import ChunkingConfig
from .errors import (IndexBusyError, IndexMismatchError, IndexNotFoundError, StoreExistsError, StoreUnavailableError,
                     UnknownIdError)
from .fusion import FusionConfig
from .hits import Hit
from .ingest import (COMMIT_SECONDS, add_documents, check_embedder, check_on_duplicate, check_records, drop_duplicates,
                     whole_ids_of)
from .modes import run_search
from .qdrant_lexical import AVGDL, SPARSE, document_vectors, query_vector, sparse_config
from .spec import IndexSpec, new_spec
from .urls import masked_url

_NAMESPACE = uuid.UUID("8c1d6f0e-3c1b-4f7e-9a4e-2f0b6c3d9e51")  # point id = uuid5(namespace, doc id + chunk)
_UPSERT_BATCH = 256
_BUILDING = "q3embed_building"  # collection metadata: a build has started and not finished
_NAME = re.compile(r"[A-Za-z0-9_-]{1,255}")


def point_id(doc_id: str, chunk: int) -> str:
    """Qdrant ids must be integers or UUIDs; a stable UUID per (document, chunk) makes upserts idempotent."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}\x00{chunk}"))


class QdrantStore:
    search_methods = ("exact", "hnsw", "binary")  # how the dense stage searches

    def __init__(self, client, collection: str, spec: IndexSpec, embedder=None, where: str = ""):
        self.client = client
        self.collection = collection
        self.spec = spec
        self.embedder = embedder
        self._where = where  # the server or folder, for messages

    @classmethod
    def create(cls, client, collection: str, embedder, dim: int | None = None, dtype: str = "float32",
               instruction: str | None = None, chunking: ChunkingConfig | None = None,
               overwrite: bool = False, building: bool = False, binary_dim: int = 0) -> "QdrantStore":
        if dtype != "float32":
            raise ValueError(f"the Qdrant adapter stores float32 vectors; got dtype {dtype!r}")
        if binary_dim and binary_dim != (dim or embedder.width):
            raise ValueError(f"Qdrant's binary quantization keeps a bit for every dimension: binary_dim must equal "
                             f"the collection dim {dim or embedder.width}, got {binary_dim} (for an MRL prefix of "
                             "bits, use the embedded index or pgvector)")
        spec = new_spec(embedder, dim, dtype, instruction, chunking, binary_dim)
        cls._create_collection(client, collection, spec, overwrite, building)
        return cls(client, collection, spec, embedder)

    @staticmethod
    def _create_collection(client, collection: str, spec: IndexSpec, overwrite: bool, building: bool = False) -> None:
        from qdrant_client import models

        if client.collection_exists(collection):
            if not overwrite:
                raise StoreExistsError(f"Qdrant collection {collection!r} already exists; pass overwrite=True to replace it")
            client.delete_collection(collection)
        # DOT on L2-normalised vectors is the cosine, and equals the local Index's scores.
        client.create_collection(collection, vectors_config=models.VectorParams(size=spec.dim, distance=models.Distance.DOT),
                                 quantization_config=binary_quantization(spec),
                                 sparse_vectors_config=sparse_config(),
                                 metadata={"q3embed": spec.to_json(), _BUILDING: building})
        with warnings.catch_warnings():  # local mode warns that payload indexes do nothing there
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            client.create_payload_index(collection, "doc_id", models.PayloadSchemaType.KEYWORD)

    @classmethod
    def open(cls, client, collection: str, embedder=None) -> "QdrantStore":
        if not client.collection_exists(collection):
            raise IndexNotFoundError(f"Qdrant collection {collection!r} does not exist")
        meta = client.get_collection(collection).config.metadata or {}
        if "q3embed" not in meta:
            raise IndexMismatchError(f"Qdrant collection {collection!r} was not made by q3embed (no spec in its metadata)")
        store = cls(client, collection, IndexSpec.from_json(meta["q3embed"]))
        if embedder is not None:
            store.attach(embedder)
        return store

    @classmethod
    def from_index(cls, index, client, collection: str, overwrite: bool = False) -> "QdrantStore":
        """Copy a local ``Index`` (vectors, chunks, spec) into a collection, with no re-embedding.

        An index with sign bits gets Qdrant's binary quantization, which covers every dimension."""
        spec = dataclasses.replace(index.spec, binary_dim=index.spec.dim if index.spec.binary_dim else 0)
        cls._create_collection(client, collection, spec, overwrite)
        target = cls(client, collection, spec, index.embedder)
        rows, vectors = index.vectors()
        records = [dict(index.record(int(r))) for r in rows]
        for r in records:
            r.setdefault("n_chunks", 1 + max(c.get("chunk", 0) for c in index.chunks(r["id"])))
        target._upsert(records, vectors)
        return target

    @property
    def location(self) -> str:
        return f"Qdrant collection {self.collection!r}" + (f" at {self._where}" if self._where else "")

    @property
    def interrupted(self) -> bool:
        meta = self.client.get_collection(self.collection).config.metadata or {}
        return bool(meta.get(_BUILDING))

    def set_building(self, building: bool) -> None:
        self.client.update_collection(self.collection, metadata={_BUILDING: building})

    def writer(self):
        """Nothing to hold (see the module notes): local mode owns its folder; a server has no client lock."""
        return contextlib.nullcontext()

    def whole_ids(self) -> set[str]:
        return whole_ids_of(self._chunk_rows())

    def partial_documents(self) -> list[str]:
        """Ids of documents stored without all their chunks (a kill between upsert and cleanup, or in a write)."""
        rows = list(self._chunk_rows())
        complete = whole_ids_of(rows)
        return sorted({doc for doc, _, _ in rows} - complete)

    def _chunk_rows(self):
        """(doc id, chunk number, n_chunks) of every stored point."""
        return ((p["doc_id"], int(p.get("chunk", 0)), int(p.get("n_chunks", 1)))
                for p in self._payloads(None, ["doc_id", "chunk", "n_chunks"]))

    def check_embedder(self, embedder) -> None:
        check_embedder(self.spec, embedder, self.location)

    def attach(self, embedder) -> "QdrantStore":
        self.check_embedder(embedder)
        self.embedder = embedder
        return self

    def close(self) -> None:
        self.client.close()

    def add(self, corpus, embedder=None, on_duplicate: str = "error", batch_size: int = 32,
            commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS,
            show_progress: bool = False) -> int:
        """Embed and upsert documents (see ``VectorStore``)."""
        if embedder is not None and embedder is not self.embedder:
            self.attach(embedder)
        return add_documents(self, corpus, self.embedder, on_duplicate, batch_size, commit_every, commit_seconds,
                             show_progress)

    def add_records(self, records: Sequence[dict], vectors: np.ndarray, on_duplicate: str = "error") -> int:
        check_on_duplicate(on_duplicate)
        records = [dict(r) for r in records]
        vectors = check_records(records, vectors, self.spec, self.location)
        ids = list(dict.fromkeys(r["id"] for r in records))
        stored = self.stored_chunks(ids)
        records, vectors = drop_duplicates(records, vectors, stored, on_duplicate, self.location)
        self._upsert(records, vectors)
        n_of = {r["id"]: r["n_chunks"] for r in records}
        stale = [point_id(d, c) for d, cs in stored.items() if d in n_of for c in cs if c >= n_of[d]]
        if stale:  # chunks of a longer old version, removed after the new version is in
            from qdrant_client import models

            self.client.delete(self.collection, points_selector=models.PointIdsList(points=stale), wait=True)
        return len(n_of)

    def _upsert(self, records: list[dict], vectors: np.ndarray) -> None:
        from qdrant_client import models

        meta = self.client.get_collection(self.collection).config.metadata or {}
        sparse, avgdl = document_vectors([r.get("text", "") for r in records], self.spec.analyzer, meta.get(AVGDL))
        if AVGDL not in meta and records:  # the first write fixes the length normalisation (qdrant_lexical)
            self.client.update_collection(self.collection, metadata={AVGDL: avgdl})
        for a in range(0, len(records), _UPSERT_BATCH):
            points = [models.PointStruct(id=point_id(r["id"], r["chunk"]), vector={"": v.tolist(), SPARSE: x},
                                         payload={"doc_id": r["id"], **{k: r[k] for k in r if k != "id"}})
                      for r, v, x in zip(records[a: a + _UPSERT_BATCH], vectors[a: a + _UPSERT_BATCH],
                                         sparse[a: a + _UPSERT_BATCH])]
            self.client.upsert(self.collection, points=points, wait=True)

    def _doc_filter(self, ids: Sequence[str]):
        from qdrant_client import models

        return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(ids)))])

    def stored_chunks(self, ids: Iterable[str]) -> dict[str, list[int]]:
        ids = list(ids)
        out: dict[str, list[int]] = {}
        for a in range(0, len(ids), 1024):
            for p in self._payloads(self._doc_filter(ids[a: a + 1024]), ["doc_id", "chunk"]):
                out.setdefault(p["doc_id"], []).append(int(p.get("chunk", 0)))
        return {d: sorted(c) for d, c in out.items()}

    def _payloads(self, scroll_filter, fields: list[str]):
        """The ``fields`` of every point that ``scroll_filter`` keeps (None: all), page by page."""
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, scroll_filter=scroll_filter, limit=4096, offset=offset,
                                                with_payload=fields, with_vectors=False)
            yield from (p.payload for p in points)
            if offset is None:
                break

    def delete(self, ids: Iterable[str], missing: str = "error") -> int:
        from qdrant_client import models

        ids = list(dict.fromkeys(str(i) for i in ([ids] if isinstance(ids, str) else ids)))
        present = set(self.stored_chunks(ids))
        unknown = [i for i in ids if i not in present]
        if unknown and missing != "ignore":
            raise UnknownIdError.for_ids(self.location, unknown)
        if present:
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=self._doc_filter(list(present))),
                               wait=True)
        return len(present)

    def count(self) -> int:
        """Number of documents (their first chunks)."""
        from qdrant_client import models

        first = models.Filter(must=[models.FieldCondition(key="chunk", match=models.MatchValue(value=0))])
        return self.client.count(self.collection, count_filter=first, exact=True).count

    def __len__(self) -> int:
        return self.count()

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if self.embedder is None:
            raise ValueError("text queries need an embedder: QdrantStore.open(client, collection, embedder)")
        instruction = instruction if instruction is not None else self.spec.instruction
        return self.embedder.encode_queries(list(texts), instruction=instruction, dim=self.spec.dim)

    def search(self, queries, top_k: int = 10, mode: str = "dense", method: str = "exact",
               instruction: str | None = None, where: dict | None = None, tuning=None, texts=None,
               fusion: FusionConfig | None = None):
        """Hits per query (see ``VectorStore``). method 'exact' asks the server for brute force,
        'hnsw' for its HNSW graph with ``tuning.ef_search`` (local mode is always exact). mode
        'lexical' searches the BM25 sparse vectors; 'hybrid' fuses both first stages with RRF in one
        Query API call (prefetch + RRF; ``fusion.method='weighted'`` fuses here instead)."""
        return run_search(self, queries, top_k, mode, method, instruction, where, tuning, texts, fusion)

    def _dense_params(self, method: str, tuning):
        from qdrant_client import models

        ef = tuning.ef_search if isinstance(tuning, AnnConfig) and method == "hnsw" else None
        if method == "binary":
            if not self.spec.binary_dim:
                raise ValueError(f"search method 'binary' needs sign bits, and {self.location} keeps none; create it "
                                 "with binary_dim= (--binary-dim), or use method 'exact'")
            return binary_search_params(tuning if isinstance(tuning, BinaryConfig) else BinaryConfig())
        return models.SearchParams(exact=method == "exact", hnsw_ef=ef)

    @staticmethod
    def _filter(where: dict | None):
        from qdrant_client import models

        return models.Filter(must=[models.FieldCondition(key=f"meta.{k}", match=models.MatchValue(value=v))
                                   for k, v in where.items()]) if where else None

    def _groups(self, top_k: int, **query) -> list[Hit]:
        """Qdrant's own grouping returns each document once, scored by its best chunk."""
        with warnings.catch_warnings():  # local mode is always exact and says so on every call
            warnings.filterwarnings("ignore", message="Local mode performs exact")
            groups = self.client.query_points_groups(self.collection, group_by="doc_id", limit=top_k, group_size=1,
                                                     with_payload=True, **query).groups
        return [_hit(g.hits[0]) for g in groups]

    def _dense_hits(self, qv: np.ndarray, top_k: int, method: str, where, tuning) -> list[list[Hit]]:
        params, filt = self._dense_params(method, tuning), self._filter(where)
        return [self._groups(top_k, query=v.tolist(), search_params=params, query_filter=filt) for v in qv]

    def _lexical_hits(self, texts: list[str], top_k: int, where) -> list[list[Hit]]:
        filt, out = self._filter(where), []
        for text in texts:
            q = query_vector(text, self.spec.analyzer)
            out.append(self._groups(top_k, query=q, using=SPARSE, query_filter=filt) if q is not None else [])
        return out

    def _hybrid_hits(self, texts, qv, top_k: int, method: str, where, tuning, fusion: FusionConfig) -> list[list[Hit]]:
        """RRF inside Qdrant: both first stages as prefetches of one query (chunk-level ranks, then
        grouped by document). The stage labels come from the same two prefetches, asked in one batch."""
        from qdrant_client import models

        params, filt, depth = self._dense_params(method, tuning), self._filter(where), fusion.stage_depth(top_k)
        out = []
        for text, v in zip(texts, qv):
            stages = [models.Prefetch(query=v.tolist(), params=params, filter=filt, limit=depth)]
            q = query_vector(text, self.spec.analyzer)
            if q is not None:
                stages.append(models.Prefetch(query=q, using=SPARSE, filter=filt, limit=depth))
            # qdrant-client's local mode scores 1 / (k + rank) with ranks from 0; k + 1 makes it the
            # 1 / (k + rank from 1) of the other stores (checked in local mode only: no server runs here)
            rrf = models.RrfQuery(rrf=models.Rrf(k=fusion.k + 1))
            hits = self._groups(top_k, prefetch=stages, query=rrf)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Local mode performs exact")
                found = self.client.query_batch_points(self.collection, [
                    models.QueryRequest(query=p.query, using=p.using, params=p.params, filter=p.filter, limit=depth,
                                        with_payload=["doc_id"]) for p in stages])
            for h in hits:
                h.stages = [name for name, res in zip(("dense", "lexical"), found)
                            if any(p.payload["doc_id"] == h.id for p in res.points)]
            out.append(hits)
        return out


def binary_quantization(spec: IndexSpec):
    """Qdrant's binary quantization (1 bit per dimension, kept in RAM) for a spec with sign bits, else None."""
    if not spec.binary_dim:
        return None
    from qdrant_client import models

    return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))


def binary_search_params(config: BinaryConfig):
    """The server's binary search: HNSW over the quantized vectors, ``oversample * limit`` candidates, each
    rescored with the original vector unless ``rescore`` is off. Local mode ignores it and searches exactly."""
    from qdrant_client import models

    return models.SearchParams(exact=False, quantization=models.QuantizationSearchParams(
        ignore=False, rescore=config.rescore, oversampling=float(config.oversample)))


def is_qdrant_url(target) -> bool:
    return isinstance(target, str) and target.startswith("qdrant://")


def qdrant_client(url: str):
    """(QdrantClient, collection, where) for ``qdrant://host[:port]?collection=NAME`` (a server) or
    ``qdrant:///abs/folder?collection=NAME`` (local mode in that folder)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    name = query.get("collection", "")
    if parts.scheme != "qdrant" or not _NAME.fullmatch(name) or not (parts.netloc or parts.path):
        raise ValueError(f"Qdrant store URL {masked_url(url)!r} must be qdrant://host[:port]?collection=NAME (a server) or "
                         "qdrant:///abs/folder?collection=NAME (local mode); NAME: letters, digits, _ and -")
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        raise StoreUnavailableError("a qdrant:// store needs the qdrant-client package: "
                                    "pip install 'q3embed[search]'") from None

    if parts.netloc:
        scheme = "https" if query.get("https") in ("1", "true") else "http"
        where = f"{scheme}://{parts.hostname}:{parts.port or 6333}"
        api_key = query.get("api_key") or os.environ.get("QDRANT_API_KEY") or None  # messages show `where`: no key
        return QdrantClient(url=where, api_key=api_key), name, where
    try:
        return QdrantClient(path=parts.path), name, parts.path
    except RuntimeError as e:  # portalocker: the folder is open in another process
        if "already accessed" in str(e):
            raise IndexBusyError(f"Qdrant folder {parts.path} is open in another process (local mode allows one); "
                                 "try again when it finishes, or use a Qdrant server") from None
        raise


def open_qdrant(url: str, embedder=None) -> QdrantStore:
    return _with_client(url, lambda client, name: QdrantStore.open(client, name, embedder), IndexNotFoundError,
                        lambda name, where: f"no Qdrant collection {name!r} at {where} (build one with "
                                            "`q3embed index build --store URL`)")


def create_qdrant(url: str, embedder, **kwargs) -> QdrantStore:
    return _with_client(url, lambda client, name: QdrantStore.create(client, name, embedder, **kwargs),
                        StoreExistsError,
                        lambda name, where: f"Qdrant collection {name!r} at {where} already exists; pass --overwrite "
                                            "to replace it or --resume to finish an interrupted build")


def _with_client(url: str, make, expected: type[Exception], explain) -> QdrantStore:
    """``make(client, name)`` with the URL's client: on failure the client is closed and the error says
    which collection and where (``expected`` re-raised with ``explain(name, where)``, an unreachable
    server as StoreUnavailableError)."""
    client, name, where = qdrant_client(url)
    try:
        store = make(client, name)
    except expected:
        client.close()
        raise expected(explain(name, where)) from None
    except Exception as e:
        client.close()
        if _unreachable(e):
            raise StoreUnavailableError(f"cannot reach Qdrant at {where}: {e}") from None
        raise
    store._where = where
    return store


def _unreachable(e: Exception) -> bool:
    return type(e).__name__ in ("ResponseHandlingException", "ConnectError", "ConnectTimeout")


def _hit(point) -> Hit:
    p = point.payload or {}
    return Hit(id=p.get("doc_id", ""), score=float(point.score), text=p.get("text", ""), chunk=p.get("chunk", 0),
               start=p.get("start", 0), end=p.get("end", 0), meta=p.get("meta", {}))
