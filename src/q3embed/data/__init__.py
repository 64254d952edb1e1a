"""The data floor: one corpus type, one training-pair schema, one JSONL reader/writer, one
L2 normaliser. It imports only config/errors. The folder also ships package data (sample
corpus and queries for the demo)."""

from .corpus import Document, corpus_texts, read_corpus
from .jsonl import append_jsonl, iter_jsonl, jsonl_bytes, read_jsonl, read_lines, read_texts, write_jsonl
from .pairs import TrainPair, pair_record, parse_pair, read_pair_records, read_pairs, write_pairs
from .vectors import l2_normalize

__all__ = ["Document", "TrainPair", "append_jsonl", "corpus_texts", "iter_jsonl", "jsonl_bytes", "l2_normalize",
           "pair_record", "parse_pair", "read_corpus", "read_jsonl", "read_lines", "read_pair_records", "read_pairs",
           "read_texts", "write_jsonl", "write_pairs"]
