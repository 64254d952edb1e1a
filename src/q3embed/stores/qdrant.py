"""Scale-out: the same corpus, chunks and hits in a Qdrant collection, through qdrant-client.

``QdrantClient(path=...)`` or ``QdrantClient(":memory:")`` runs Qdrant's local mode in-process;
``QdrantClient(url="http://host:6333", api_key=...)`` talks to a server. The adapter is the same
for all three. The collection's metadata records the ``IndexSpec``, so a different model or dim
is refused here exactly as by the local ``Index``.

>>> qi = QdrantIndex.from_index(Index.open("scifact.idx"), QdrantClient(url=...), "scifact")
>>> Retriever(embedder, qi, reranker).search("query")
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from .chunking import ChunkingConfig, chunk_text
from .corpus import read_corpus
from .errors import DuplicateIdError, IndexMismatchError, IndexNotFoundError
from .hits import Hit
from .spec import PROBE_MIN_COSINE, IndexSpec, embed_probe, model_reference, probe_agreement, query_matrix

_NAMESPACE = uuid.UUID("8c1d6f0e-3c1b-4f7e-9a4e-2f0b6c3d9e51")  # point id = uuid5(namespace, doc id + chunk)
_UPSERT_BATCH = 256


def point_id(doc_id: str, chunk: int) -> str:
    """Qdrant ids must be integers or UUIDs; a stable UUID per (document, chunk) makes upserts idempotent."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc_id}\x00{chunk}"))


class QdrantIndex:
    def __init__(self, client, collection: str, spec: IndexSpec, embedder=None):
        self.client = client
        self.collection = collection
        self.spec = spec
        self.embedder = embedder

    @classmethod
    def create(cls, client, collection: str, embedder, dim: int | None = None, instruction: str | None = None,
               chunking: ChunkingConfig | None = None, overwrite: bool = False) -> "QdrantIndex":
        dim = embedder.check_dim(dim) if hasattr(embedder, "check_dim") else int(dim or embedder.width)
        spec = IndexSpec(model=model_reference(embedder), width=int(embedder.width), dim=dim,
                         instruction=instruction, chunking=chunking or ChunkingConfig(),
                         probe=tuple(map(tuple, embed_probe(embedder, dim).tolist())))
        cls._create_collection(client, collection, spec, overwrite)
        return cls(client, collection, spec, embedder)

    @staticmethod
    def _create_collection(client, collection: str, spec: IndexSpec, overwrite: bool) -> None:
        from qdrant_client import models

        if client.collection_exists(collection):
            if not overwrite:
                raise FileExistsError(f"Qdrant collection {collection!r} already exists; pass overwrite=True to replace it")
            client.delete_collection(collection)
        # DOT on L2-normalised vectors is the cosine, and equals the local Index's scores.
        client.create_collection(collection, vectors_config=models.VectorParams(size=spec.dim, distance=models.Distance.DOT),
                                 metadata={"q3embed": spec.to_json()})
        with warnings.catch_warnings():  # local mode warns that payload indexes do nothing there
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            client.create_payload_index(collection, "doc_id", models.PayloadSchemaType.KEYWORD)

    @classmethod
    def open(cls, client, collection: str, embedder=None) -> "QdrantIndex":
        if not client.collection_exists(collection):
            raise IndexNotFoundError(f"Qdrant collection {collection!r} does not exist")
        meta = client.get_collection(collection).config.metadata or {}
        if "q3embed" not in meta:
            raise IndexMismatchError(f"Qdrant collection {collection!r} was not made by q3embed (no spec in its metadata)")
        index = cls(client, collection, IndexSpec.from_json(meta["q3embed"]))
        if embedder is not None:
            index.check_embedder(embedder)
            index.embedder = embedder
        return index

    @classmethod
    def from_index(cls, index, client, collection: str, overwrite: bool = False) -> "QdrantIndex":
        """Copy a local ``Index`` (vectors, chunks, spec) into a collection, with no re-embedding."""
        cls._create_collection(client, collection, index.spec, overwrite)
        target = cls(client, collection, index.spec, index.embedder)
        rows, vectors = index.vectors()
        records = [index.record(int(r)) for r in rows]
        target._upsert(records, vectors)
        return target

    def check_embedder(self, embedder) -> None:
        agreement = probe_agreement(self.spec, embed_probe(embedder, self.spec.dim)) if embedder.width >= self.spec.dim else -1
        if agreement < PROBE_MIN_COSINE:
            raise IndexMismatchError(f"Qdrant collection {self.collection!r} was built with {self.spec.describe()}; "
                                     f"the embedder {getattr(embedder, 'name', '?')!r} gives different vectors. "
                                     f"Search with {self.spec.model!r} or rebuild the collection.")

    def add(self, corpus, on_duplicate: str = "error", batch_size: int = 32) -> int:
        """Embed and upsert documents. Duplicates: 'error', 'replace' (old chunks deleted first) or 'skip'."""
        docs = read_corpus(corpus)
        present = [d.id for d in docs if self._has(d.id)]
        if present and on_duplicate == "error":
            raise DuplicateIdError.for_ids(f"Qdrant collection {self.collection!r}", present,
                                           "use on_duplicate='replace' or 'skip'")
        if on_duplicate == "skip":
            docs = [d for d in docs if d.id not in set(present)]
        elif present:
            self.delete(present)
        records = []
        for d in docs:
            for i, c in enumerate(chunk_text(d.text, getattr(self.embedder, "tokenizer", None), self.spec.chunking)):
                records.append({"id": d.id, "chunk": i, "start": c.start, "end": c.end, "text": c.text,
                                **({"meta": d.meta} if d.meta else {})})
        if records:
            vectors = self.embedder.encode_documents([r["text"] for r in records], dim=self.spec.dim,
                                                     batch_size=batch_size)
            self._upsert(records, vectors)
        return len(docs)

    def _upsert(self, records: list[dict], vectors: np.ndarray) -> None:
        from qdrant_client import models

        for a in range(0, len(records), _UPSERT_BATCH):
            points = [models.PointStruct(id=point_id(r["id"], r["chunk"]), vector=v.tolist(),
                                         payload={"doc_id": r["id"], **{k: r[k] for k in r if k != "id"}})
                      for r, v in zip(records[a: a + _UPSERT_BATCH], vectors[a: a + _UPSERT_BATCH])]
            self.client.upsert(self.collection, points=points, wait=True)

    def _doc_filter(self, ids: Sequence[str]):
        from qdrant_client import models

        return models.Filter(must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(ids)))])

    def _has(self, doc_id: str) -> bool:
        return self.client.count(self.collection, count_filter=self._doc_filter([doc_id]), exact=True).count > 0

    def delete(self, ids: Iterable[str]) -> None:
        from qdrant_client import models

        ids = [str(i) for i in ([ids] if isinstance(ids, str) else ids)]
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=self._doc_filter(ids)), wait=True)

    def __len__(self) -> int:
        """Number of documents (their first chunks)."""
        from qdrant_client import models

        first = models.Filter(must=[models.FieldCondition(key="chunk", match=models.MatchValue(value=0))])
        return self.client.count(self.collection, count_filter=first, exact=True).count

    def _encode_queries(self, texts: list[str]) -> np.ndarray:
        if self.embedder is None:
            raise ValueError("text queries need an embedder: QdrantIndex.open(client, collection, embedder)")
        return self.embedder.encode_queries(texts, instruction=self.spec.instruction, dim=self.spec.dim)

    def search(self, queries, top_k: int = 10, mode: str = "exact", hnsw_ef: int | None = None):
        """Hits per query, like ``Index.search``. mode 'exact' asks the server for brute force,
        'hnsw' for its HNSW graph (local mode is always exact)."""
        from qdrant_client import models

        if mode not in ("exact", "hnsw"):
            raise ValueError(f"Qdrant search mode must be 'exact' or 'hnsw', got {mode!r}")
        single, qv = query_matrix(queries, self.spec, f"Qdrant collection {self.collection!r}", self._encode_queries)
        params = models.SearchParams(exact=mode == "exact", hnsw_ef=hnsw_ef)
        # Qdrant's own grouping returns each document once, scored by its best chunk.
        out = []
        for v in qv:
            with warnings.catch_warnings():  # local mode is always exact and says so on every call
                warnings.filterwarnings("ignore", message="Local mode performs exact")
                groups = self.client.query_points_groups(self.collection, query=v.tolist(), group_by="doc_id",
                                                         limit=top_k, group_size=1, search_params=params,
                                                         with_payload=True).groups
            out.append([_hit(g.hits[0]) for g in groups])
        return out[0] if single else out


def _hit(point) -> Hit:
    p = point.payload or {}
    return Hit(id=p.get("doc_id", ""), score=float(point.score), text=p.get("text", ""), chunk=p.get("chunk", 0),
               start=p.get("start", 0), end=p.get("end", 0), meta=p.get("meta", {}))
