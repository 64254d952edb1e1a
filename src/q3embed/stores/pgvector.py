"""``PgVectorStore``: the same contract on PostgreSQL with the pgvector extension (psycopg 3).

One table per collection (``q3e_<collection>``: one row per chunk, ``embedding vector(dim)``,
``meta jsonb`` with a GIN index for filters), and one ``q3embed_collections`` row per collection
holding its ``IndexSpec`` and whether a build is unfinished. Every write is one transaction under a
per-collection advisory lock, so a kill loses at most the open transaction and never half a
document; a second writer gets ``IndexBusyError``, as with the embedded index.

Search: ``exact`` is a sequential scan (``DISTINCT ON (doc_id)`` keeps each document's best chunk);
``hnsw`` uses an HNSW index (``vector_ip_ops``), created on the first HNSW search and kept up to
date by PostgreSQL on every insert after that. ``binary`` (a collection created with ``binary_dim``)
ranks a ``bits bit(binary_dim)`` column by Hamming distance and rescores the oversampled candidates
with the full vectors in the same statement. ``mode="lexical"`` is BM25 over a term table kept in
the same transactions (``pg_lexical``); ``mode="hybrid"`` fuses both first stages (``modes``).

>>> store = PgVectorStore.create("postgresql://me@db/rag?collection=scifact", embedder)
>>> store.add("corpus.jsonl"); store.search("query", top_k=10, method="hnsw")
>>> store.search("query", mode="hybrid")   # BM25 in SQL + dense, fused with RRF
"""

from __future__ import annotations

import functools
import json
import re
import threading
import zlib
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from .ann import AnnConfig
from .binary import BinaryConfig
from .analysis import analyze
from .chunking import ChunkingConfig
from .errors import (IndexBusyError, IndexNotFoundError, StoreExistsError,
                     StoreUnavailableError,
                     UnknownIdError)
from .fusion import FusionConfig
from .hits import Hit
from .ingest import (COMMIT_SECONDS, add_documents, check_embedder, check_on_duplicate, check_records, drop_duplicates)
from .modes import run_search
from .pg_lexical import bm25_sql, create_terms_table, term_counts, write_terms
from .spec import IndexSpec, new_spec
from .urls import masked_url

SPEC_TABLE = "q3embed_collections"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,47}")
_INSERT_BATCH = 512  # rows per executemany round trip inside one transaction


def _one_at_a_time(method):
    """One psycopg connection per store: calls from a server's thread pool take turns on it."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._conn_lock:
            return method(self, *args, **kwargs)
    return wrapper


def split_url(url: str) -> tuple[str, str, str]:
    """(connection URL for psycopg, collection name, URL to show: no password) from
    ``postgresql://user[:pw]@host[:port]/db?collection=NAME[&other libpq params]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"store URL must start with postgresql://, got {masked_url(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [v for k, v in query if k == "collection"]
    if len(names) != 1 or not _NAME.fullmatch(names[0]):
        raise ValueError(f"store URL {masked_url(url)!r} needs ?collection=NAME (lowercase letters, digits, _; at most 48), "
                         f"e.g. postgresql://user@host/db?collection=scifact")
    rest = [(k, v) for k, v in query if k != "collection"]
    conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), ""))
    return conninfo, names[0], masked_url(url)


def _server(conninfo: str) -> str:
    """'host:port' (or the socket folder) for messages."""
    parts = urlsplit(conninfo)
    host = parts.hostname or dict(parse_qsl(parts.query)).get("host") or "localhost"
    return f"{host}:{parts.port or 5432}"


def connect(url: str, connect_timeout: int = 10):
    """A psycopg connection with pgvector types registered, or one line saying what is missing."""
    try:
        import psycopg
        from pgvector.psycopg import register_vector
    except ImportError as e:  # the clients come with an extra, as Ray does with --ray
        raise StoreUnavailableError(f"a postgresql:// store needs the {e.name or 'psycopg'} package: "
                                    "pip install 'q3embed[pgvector]'") from None

    conninfo, collection, shown = split_url(url)
    server = _server(conninfo)
    try:
        conn = psycopg.connect(conninfo, connect_timeout=connect_timeout, autocommit=True)
    except psycopg.OperationalError as e:
        msg = " ".join(str(e).split())
        if "password authentication failed" in msg or "authentication failed" in msg or "no password supplied" in msg:
            user = urlsplit(conninfo).username or "?"
            raise StoreUnavailableError(f"PostgreSQL at {server} refused the credentials for user {user!r} "
                                        f"({shown})") from None
        if "does not exist" in msg:
            raise StoreUnavailableError(f"PostgreSQL at {server}: {msg.split('FATAL:')[-1].strip()} ({shown})") from None
        raise StoreUnavailableError(f"cannot reach PostgreSQL at {server} ({shown}): {_last_clause(msg)}") from None
    try:
        if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
            try:
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as e:
                raise StoreUnavailableError(
                    f"PostgreSQL at {server} (database {conn.info.dbname!r}) lacks the pgvector extension and "
                    f"this user cannot add it ({_last_clause(' '.join(str(e).split()))}); install pgvector and run "
                    "CREATE EXTENSION vector as a superuser") from None
        register_vector(conn)
    except BaseException:
        conn.close()
        raise
    return conn, collection, shown


def _last_clause(msg: str) -> str:
    return msg.rsplit(": ", 1)[-1] if ": " in msg else msg


class PgVectorStore:
    search_methods = ("exact", "hnsw", "binary")  # how the dense stage searches

    def __init__(self, conn, collection: str, spec: IndexSpec, shown: str, building: bool = False, embedder=None):
        self.conn = conn
        self.collection = collection
        self.spec = spec
        self._shown = shown
        self.building = building
        self.embedder = embedder
        self._locked = 0
        self._conn_lock = threading.RLock()

    # ---- opening -------------------------------------------------------------------------------

    @classmethod
    def create(cls, url: str, embedder, dim: int | None = None, dtype: str = "float32",
               instruction: str | None = None, chunking: ChunkingConfig | None = None,
               overwrite: bool = False, building: bool = False, binary_dim: int = 0) -> "PgVectorStore":
        if dtype != "float32":
            raise ValueError(f"pgvector stores float32 vectors (the vector type); got dtype {dtype!r}")
        spec = new_spec(embedder, dim, dtype, instruction, chunking, binary_dim)
        bits = f", bits bit({spec.binary_dim}) NOT NULL" if spec.binary_dim else ""  # the binary first pass
        conn, collection, shown = connect(url)
        store = cls(conn, collection, spec, shown, building, embedder)
        with store.writer():
            store._ensure_spec_table()
            if store._read_spec() is not None:
                if not overwrite:
                    raise StoreExistsError(f"{store.location} already exists; pass overwrite=True (--overwrite) to "
                                          "replace it, resume=True (--resume) to finish an interrupted build, or add "
                                          "documents with `q3embed index add`")
                with conn.transaction():
                    conn.execute(f"DROP TABLE IF EXISTS {store._table}_terms")
                    conn.execute(f"DROP TABLE IF EXISTS {store._table}")
                    conn.execute(f"DELETE FROM {SPEC_TABLE} WHERE name = %s", (collection,))
            with conn.transaction():
                conn.execute(f"""CREATE TABLE {store._table} (
                    row_id bigserial PRIMARY KEY, doc_id text NOT NULL, chunk int NOT NULL, n_chunks int NOT NULL,
                    start_char int NOT NULL, end_char int NOT NULL, text text NOT NULL,
                    meta jsonb NOT NULL DEFAULT '{{}}', embedding vector({spec.dim}) NOT NULL{bits},
                    n_terms int NOT NULL DEFAULT 0, UNIQUE (doc_id, chunk))""")
                conn.execute(f"CREATE INDEX ON {store._table} USING gin (meta jsonb_path_ops)")
                create_terms_table(conn, store._table)
                conn.execute(f"INSERT INTO {SPEC_TABLE} (name, spec, building) VALUES (%s, %s, %s)",
                             (collection, json.dumps(spec.to_json()), building))
        return store

    @classmethod
    def open(cls, url: str, embedder=None) -> "PgVectorStore":
        conn, collection, shown = connect(url)
        store = cls(conn, collection, None, shown)
        store._ensure_spec_table()
        row = store._read_spec()
        if row is None:
            conn.close()
            raise IndexNotFoundError(f"no collection at {shown} (build one with `q3embed index build --store URL`)")
        store.spec, store.building = IndexSpec.from_json(row[0]), bool(row[1])
        if embedder is not None:
            try:
                store.attach(embedder)
            except BaseException:
                conn.close()
                raise
        return store

    @property
    def location(self) -> str:
        return f"PostgreSQL collection {self.collection!r} at {self._shown}"

    @property
    def _table(self) -> str:
        return f"q3e_{self.collection}"

    def _ensure_spec_table(self) -> None:
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {SPEC_TABLE} (name text PRIMARY KEY, spec jsonb NOT NULL, "
                          "building boolean NOT NULL DEFAULT false)")

    def _read_spec(self):
        return self.conn.execute(f"SELECT spec, building FROM {SPEC_TABLE} WHERE name = %s",
                                 (self.collection,)).fetchone()

    def check_embedder(self, embedder) -> None:
        check_embedder(self.spec, embedder, self.location)

    def attach(self, embedder) -> "PgVectorStore":
        self.check_embedder(embedder)
        self.embedder = embedder
        return self

    @_one_at_a_time
    def set_building(self, building: bool) -> None:
        with self.writer():
            self.conn.execute(f"UPDATE {SPEC_TABLE} SET building = %s WHERE name = %s", (building, self.collection))
        self.building = building

    @property
    def interrupted(self) -> bool:
        row = self._read_spec()
        return bool(row and row[1])

    def close(self) -> None:
        self.conn.close()

    # ---- writing -------------------------------------------------------------------------------

    def writer(self):
        """Session advisory lock per collection: one writer at a time, released by the server if we die."""
        import contextlib

        key = zlib.crc32(f"q3embed:{self.collection}".encode())

        @contextlib.contextmanager
        def held():
            if not self._locked:
                if not self.conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    raise IndexBusyError(f"{self.location}: another process is writing to this collection; "
                                         "try again when it finishes")
            self._locked += 1
            try:
                yield
            finally:
                self._locked -= 1
                if not self._locked:
                    self.conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        return held()

    def add(self, corpus, embedder=None, on_duplicate: str = "error", batch_size: int = 32,
            commit_every: int = 8192, commit_seconds: float | None = COMMIT_SECONDS,
            show_progress: bool = False) -> int:
        """Embed and add documents (see ``VectorStore``); each commit is one transaction."""
        if embedder is not None and embedder is not self.embedder:
            self.attach(embedder)
        with self.writer():
            return add_documents(self, corpus, self.embedder, on_duplicate, batch_size, commit_every, commit_seconds,
                                 show_progress)

    @_one_at_a_time
    def add_records(self, records: Sequence[dict], vectors: np.ndarray, on_duplicate: str = "error") -> int:
        check_on_duplicate(on_duplicate)
        records = [dict(r) for r in records]
        vectors = check_records(records, vectors, self.spec, self.location)
        with self.writer(), self.conn.transaction():
            ids = list(dict.fromkeys(r["id"] for r in records))
            stored = self.stored_chunks(ids)
            records, vectors = drop_duplicates(records, vectors, stored, on_duplicate, self.location)
            written = list(dict.fromkeys(r["id"] for r in records))
            if stored:
                self.conn.execute(f"DELETE FROM {self._table} WHERE doc_id = ANY(%s)", (written,))
            b = self.spec.binary_dim
            bit_col, bit_val = (", bits", f", %s::text::bit({b})") if b else ("", "")
            counts = term_counts((r["text"] for r in records), self.spec.analyzer)
            with self.conn.cursor() as cur:
                for a in range(0, len(records), _INSERT_BATCH):
                    cur.executemany(
                        f"INSERT INTO {self._table} (doc_id, chunk, n_chunks, start_char, end_char, text, meta, "
                        f"n_terms, embedding{bit_col}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s{bit_val})",
                        [(r["id"], r["chunk"], r["n_chunks"], r["start"], r["end"], r["text"].replace("\x00", ""),
                          json.dumps(r.get("meta") or {}), sum(c.values()), v, *([bit_string(v, b)] if b else []))
                         for r, v, c in zip(records[a: a + _INSERT_BATCH], vectors[a: a + _INSERT_BATCH],
                                            counts[a: a + _INSERT_BATCH])])
            # the chunks' BM25 terms, in the same transaction (see pg_lexical)
            write_terms(self.conn, self._table, written, {(r["id"], r["chunk"]): c for r, c in zip(records, counts)})
        return len(written)

    @_one_at_a_time
    def stored_chunks(self, ids: Iterable[str]) -> dict[str, list[int]]:
        rows = self.conn.execute(f"SELECT doc_id, chunk FROM {self._table} WHERE doc_id = ANY(%s)",
                                 (list(ids),)).fetchall()
        out: dict[str, list[int]] = {}
        for doc, chunk in rows:
            out.setdefault(doc, []).append(chunk)
        return {d: sorted(c) for d, c in out.items()}

    @_one_at_a_time
    def delete(self, ids: Iterable[str], missing: str = "error") -> int:
        ids = list(dict.fromkeys(str(i) for i in ([ids] if isinstance(ids, str) else ids)))
        with self.writer(), self.conn.transaction():
            present = set(self.stored_chunks(ids))
            unknown = [i for i in ids if i not in present]
            if unknown and missing != "ignore":
                raise UnknownIdError.for_ids(self.location, unknown)
            self.conn.execute(f"DELETE FROM {self._table} WHERE doc_id = ANY(%s)", (list(present),))
        return len(present)

    @_one_at_a_time
    def count(self) -> int:
        return self.conn.execute(f"SELECT count(DISTINCT doc_id) FROM {self._table}").fetchone()[0]

    def __len__(self) -> int:
        return self.count()

    @_one_at_a_time
    def whole_ids(self) -> set[str]:
        # UNIQUE (doc_id, chunk): n distinct chunk numbers from 0 to n - 1 are all of them
        rows = self.conn.execute(f"SELECT doc_id FROM {self._table} GROUP BY doc_id "
                                 "HAVING count(*) = max(n_chunks) AND min(chunk) = 0 "
                                 "AND max(chunk) + 1 = max(n_chunks) AND min(n_chunks) = max(n_chunks)").fetchall()
        return {r[0] for r in rows}

    @_one_at_a_time
    def partial_documents(self) -> list[str]:
        rows = self.conn.execute(f"SELECT doc_id FROM {self._table} GROUP BY doc_id "
                                 "HAVING count(*) <> max(n_chunks) OR max(chunk) + 1 <> max(n_chunks)").fetchall()
        return [r[0] for r in rows]

    # ---- searching -----------------------------------------------------------------------------

    def encode_queries(self, texts: Sequence[str], instruction: str | None = None) -> np.ndarray:
        if self.embedder is None:
            raise ValueError(f"text queries need an embedder: PgVectorStore.open(url, embedder) with {self.spec.model!r}")
        instruction = instruction if instruction is not None else self.spec.instruction
        return self.embedder.encode_queries(list(texts), instruction=instruction, dim=self.spec.dim)

    @_one_at_a_time
    def ensure_hnsw(self, config: AnnConfig | None = None) -> None:
        """Create the HNSW index (inner product) if it is missing; PostgreSQL maintains it on later inserts."""
        config = config or AnnConfig()
        with self.writer():
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {self._table}_hnsw ON {self._table} USING hnsw "
                              f"(embedding vector_ip_ops) WITH (m = {int(config.hnsw_m)}, "
                              f"ef_construction = {int(config.ef_construction)})")

    @_one_at_a_time
    def search(self, queries, top_k: int = 10, mode: str = "dense", method: str = "exact",
               instruction: str | None = None, where: dict | None = None, tuning=None, texts=None,
               fusion: FusionConfig | None = None):
        """Hits per query (see ``VectorStore``): dense by ``method``, BM25 in SQL (``pg_lexical``), or
        both fused (``fusion``) in Python by the same code as the embedded index."""
        return run_search(self, queries, top_k, mode, method, instruction, where, tuning, texts, fusion)

    def _filter(self, where: dict | None, alias: str = "") -> tuple[str, list]:
        return (f"WHERE {alias}meta @> %s::jsonb", [json.dumps(where)]) if where else ("", [])

    def _dense_hits(self, qv: np.ndarray, top_k: int, method: str, where, tuning) -> list[list[Hit]]:
        filt, params = self._filter(where)
        if method == "hnsw":
            ann = tuning if isinstance(tuning, AnnConfig) else AnnConfig()
            self.ensure_hnsw(ann)
            return [self._search_hnsw(v, top_k, ann.ef_search, filt, params) for v in qv]
        if method == "binary":
            if not self.spec.binary_dim:
                raise ValueError(f"search method 'binary' needs sign bits, and {self.location} keeps none; create it "
                                 "with binary_dim= (--binary-dim), or use method 'exact'")
            config = tuning if isinstance(tuning, BinaryConfig) else BinaryConfig()
            return [self._search_binary(v, top_k, config, filt, params) for v in qv]
        return [self._search_exact(v, top_k, filt, params) for v in qv]

    def _lexical_hits(self, texts: list[str], top_k: int, where) -> list[list[Hit]]:
        filt, params = self._filter(where, "c.")
        sql = bm25_sql(self._table, self._COLUMNS, filt)
        out = []
        for text in texts:
            terms = list(dict.fromkeys(analyze(text, self.spec.analyzer)))
            rows = self.conn.execute(sql, [terms, *params, top_k]).fetchall() if terms else []
            out.append([_hit(r) for r in rows])
        return out

    _COLUMNS = "doc_id, chunk, start_char, end_char, text, meta"

    def _search_exact(self, v: np.ndarray, top_k: int, filt: str, params: list) -> list[Hit]:
        with self.conn.transaction():
            self.conn.execute("SET LOCAL enable_indexscan = off")  # a sequential scan: every row is scored
            rows = self.conn.execute(
                f"SELECT {self._COLUMNS}, neg FROM (SELECT DISTINCT ON (doc_id) {self._COLUMNS}, "
                f"embedding <#> %s AS neg FROM {self._table} {filt} ORDER BY doc_id, neg) best "
                "ORDER BY neg, doc_id LIMIT %s", [v, *params, top_k]).fetchall()
        return [_hit(r) for r in rows]

    def _search_hnsw(self, v: np.ndarray, top_k: int, ef_search: int, filt: str, params: list) -> list[Hit]:
        m = top_k * 4 if self.spec.chunking.enabled else top_k
        while True:
            with self.conn.transaction():
                # HNSW returns at most ef_search rows (pgvector's cap is 1000)
                self.conn.execute(f"SET LOCAL hnsw.ef_search = {min(1000, max(int(ef_search), m))}")
                rows = self.conn.execute(f"SELECT {self._COLUMNS}, embedding <#> %s AS neg FROM {self._table} {filt} "
                                         "ORDER BY neg LIMIT %s", [v, *params, m]).fetchall()
            hits, seen = [], set()
            for r in rows:
                if r[0] not in seen:
                    seen.add(r[0])
                    hits.append(_hit(r))
            if len(hits) >= top_k or len(rows) < m or m >= 1000:
                return hits[:top_k]
            m = min(1000, m * 4)  # many chunks of the same documents: look deeper

    def _search_binary(self, v: np.ndarray, top_k: int, config: BinaryConfig, filt: str, params: list) -> list[Hit]:
        """Hamming first pass over the ``bits`` column (``bit_count`` of XOR; ties by row), then the
        candidates rescored by the full vector, in one statement. pgvector 0.6 has no Hamming operator
        or bit index, so the first pass is a sequential scan of the narrow bit column."""
        b = self.spec.binary_dim
        m = top_k * 4 if self.spec.chunking.enabled else top_k
        q_bits = bit_string(v, b)
        while True:
            c = config.candidates(m) if config.rescore else m
            first = (f"SELECT {self._COLUMNS}, embedding, bit_count(bits # %s::text::bit({b})) AS ham, row_id "
                     f"FROM {self._table} {filt} ORDER BY ham, row_id LIMIT %s")
            if config.rescore:
                sql = f"SELECT {self._COLUMNS}, embedding <#> %s AS neg FROM ({first}) cand ORDER BY neg, row_id LIMIT %s"
                args = [v, q_bits, *params, c, m]
            else:
                sql = f"SELECT {self._COLUMNS}, (2.0 * ham / {b}) - 1.0 AS neg FROM ({first}) cand ORDER BY ham, row_id"
                args = [q_bits, *params, c]
            rows = self.conn.execute(sql, args).fetchall()
            hits, seen = [], set()
            for r in rows:
                if r[0] not in seen:
                    seen.add(r[0])
                    hits.append(_hit(r))
            if len(hits) >= top_k or len(rows) < m:
                return hits[:top_k]
            m *= 4  # many chunks of the same documents: look deeper

    def __repr__(self) -> str:
        return f"PgVectorStore({self.location}, {self.spec.describe()})"


def bit_string(vector: np.ndarray, binary_dim: int) -> str:
    """The sign bits of ``vector[:binary_dim]`` as PostgreSQL ``bit`` text ('1' where > 0), the same bits
    the embedded index packs (``binary.pack_signs``) and pgvector's ``binary_quantize`` makes."""
    return "".join("1" if x > 0 else "0" for x in np.asarray(vector)[:binary_dim].tolist())


def _hit(row) -> Hit:
    doc, chunk, start, end, text, meta, neg = row
    return Hit(id=doc, score=float(-neg), text=text, chunk=chunk, start=start, end=end, meta=meta or {})
