"""BM25 inside PostgreSQL for ``PgVectorStore``: a term table beside the chunk table, scored in SQL.

Each chunk's terms (``analysis.analyze``, the collection's analyzer) are rows of
``<table>_terms (term, row_id, tf)`` with the primary key ``(term, row_id)``, a b-tree that finds a
term's postings; ``ON DELETE CASCADE`` removes them in the transaction that deletes or replaces
their chunk, so the two never disagree. The chunk table keeps each chunk's length in terms
(``n_terms``).

A query is one statement: document frequencies and the average length come from the same
snapshot, and the score is Okapi BM25 exactly as Lucene (and tantivy) define it:
``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` times ``tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl))``,
with k1 = 1.2 and b = 0.75 (Lucene's and Elasticsearch's defaults).

PostgreSQL's own full-text search (``tsvector`` + GIN + ``ts_rank_cd``) is not BM25: ``ts_rank_cd``
has no inverse document frequency and no length saturation. docs/search.md gives what each
scores on SciFact.
"""

from __future__ import annotations

from collections import Counter

from .analysis import analyze

K1 = 1.2
B = 0.75


def create_terms_table(conn, table: str) -> None:
    conn.execute(f"CREATE TABLE {table}_terms (term text NOT NULL, row_id bigint NOT NULL "
                 f"REFERENCES {table} (row_id) ON DELETE CASCADE, tf int NOT NULL, PRIMARY KEY (term, row_id))")
    conn.execute(f"CREATE INDEX ON {table}_terms (row_id)")  # the cascade finds a chunk's terms by row


def term_counts(texts, analyzer: str) -> list[Counter]:
    return [Counter(analyze(t, analyzer)) for t in texts]


def write_terms(conn, table: str, doc_ids: list[str], counts: dict[tuple[str, int], Counter]) -> None:
    """Insert the term rows of the chunks just written (``counts``: (doc id, chunk) -> term counts)."""
    rows = conn.execute(f"SELECT row_id, doc_id, chunk FROM {table} WHERE doc_id = ANY(%s)", (doc_ids,)).fetchall()
    with conn.cursor() as cur, cur.copy(f"COPY {table}_terms (term, row_id, tf) FROM STDIN") as copy:
        for row_id, doc, chunk in rows:
            for term, tf in counts[(doc, chunk)].items():
                copy.write_row((term, row_id, tf))


def bm25_sql(table: str, columns: str, filt: str) -> str:
    """One query's BM25 top documents (best chunk each). Parameters: terms (text[]), *filter params, limit."""
    return f"""
        WITH q AS (SELECT DISTINCT unnest(%s::text[]) AS term),
        stats AS (SELECT count(*)::float8 AS n, greatest(avg(n_terms), 1e-9)::float8 AS avgdl FROM {table}),
        df AS (SELECT t.term, count(*)::float8 AS df FROM {table}_terms t JOIN q USING (term) GROUP BY t.term),
        scored AS (
            SELECT t.row_id, sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5))
                                 * t.tf * {K1 + 1} / (t.tf + {K1} * (1 - {B} + {B} * c.n_terms / s.avgdl))) AS score
            FROM {table}_terms t JOIN df USING (term) JOIN {table} c ON c.row_id = t.row_id CROSS JOIN stats s
            {filt} GROUP BY t.row_id)
        SELECT {columns}, -score FROM (
            SELECT DISTINCT ON (c.doc_id) {', '.join('c.' + x.strip() for x in columns.split(','))}, scored.score
            FROM scored JOIN {table} c ON c.row_id = scored.row_id ORDER BY c.doc_id, scored.score DESC) best
        ORDER BY score DESC, doc_id LIMIT %s"""
