"""The one training-pair schema and reader (training, the cosine filter, the pipeline, mining output).

Accepted row formats (one JSON object per line):
- q3embed / FlagEmbedding: ``query``, ``pos`` (string or list), ``neg`` (list, optional),
  ``instruction`` (optional; FlagEmbedding's ``prompt`` is read as the instruction);
- ms-swift: ``query``, ``response`` (the positive), ``rejected_response`` (negatives);
- sentence-transformers style names: ``anchor``/``question``, ``positive(s)``, ``negatives``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputFileError, not_a_file
from .jsonl import iter_jsonl, jsonl_bytes

QUERY_KEYS = ("query", "anchor", "question")
POS_KEYS = ("pos", "response", "positive", "positives")
NEG_KEYS = ("neg", "rejected_response", "negatives", "hard_negatives")
INSTRUCTION_KEYS = ("instruction", "prompt")


@dataclass(frozen=True)
class TrainPair:
    query: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    instruction: str | None = None


def _first(rec: dict, keys: tuple[str, ...]):
    for k in keys:
        if k in rec:
            return k, rec[k]
    return None, None


def _texts(value, where: str, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputFileError(f"{where}: '{key}' must be a string or a list of strings")
    return tuple(value)


def parse_pair(rec, path: str | Path, n: int) -> TrainPair:
    """The TrainPair of one JSONL object (line ``n`` of ``path``); what is wrong names file and line."""
    where = f"{path}:{n}"
    if not isinstance(rec, dict):
        raise InputFileError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    _, query = _first(rec, QUERY_KEYS)
    if not isinstance(query, str) or not query.strip():
        raise InputFileError(f"{where}: needs a non-empty string 'query' (or one of {', '.join(QUERY_KEYS[1:])})")
    pk, pos = _first(rec, POS_KEYS)
    if pk is None:
        raise InputFileError(f"{where}: needs a positive: one of {', '.join(POS_KEYS)}")
    positives = _texts(pos, where, pk)
    if not positives:
        raise InputFileError(f"{where}: '{pk}' is empty; every row needs at least one positive")
    nk, neg = _first(rec, NEG_KEYS)
    negatives = _texts(neg, where, nk) if nk is not None else ()
    ik, instruction = _first(rec, INSTRUCTION_KEYS)
    if instruction is not None and not isinstance(instruction, str):
        raise InputFileError(f"{where}: '{ik}' must be a string")
    return TrainPair(query, positives, negatives, instruction or None)


def pair_record(rec: dict, pair: TrainPair) -> dict:
    """``rec`` in the q3embed format (query, pos, neg, instruction), its other fields kept."""
    aliases = set(QUERY_KEYS + POS_KEYS + NEG_KEYS + INSTRUCTION_KEYS)
    out = {"query": pair.query, "pos": list(pair.positives)}
    if pair.negatives:
        out["neg"] = list(pair.negatives)
    if pair.instruction:
        out["instruction"] = pair.instruction
    return {**out, **{k: v for k, v in rec.items() if k not in aliases}}


def read_pair_records(path: str | Path, what: str = "training file") -> list[tuple[dict, TrainPair]]:
    """(raw object, TrainPair) for every row; a malformed line is reported with its number."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(not_a_file(path, what, "a .jsonl file of pairs", (".jsonl",)))
    rows = [(rec, parse_pair(rec, path, n)) for n, rec in iter_jsonl(path, what)]
    if not rows:
        raise InputFileError(f"{what} {path}: no training rows")
    return rows


def read_pairs(path: str | Path, what: str = "training file") -> list[TrainPair]:
    """Every row of a training-pair JSONL as a TrainPair."""
    return [pair for _, pair in read_pair_records(path, what)]


def write_pairs(records, path: str | Path) -> Path:
    """Write pair records as JSONL through a temporary file, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(jsonl_bytes(records))
    tmp.replace(path)
    return path
