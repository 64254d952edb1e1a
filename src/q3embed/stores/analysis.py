"""Text analysis for lexical search: one function turns text into terms, at index and at query time.

Every store calls ``analyze`` with the analyzer name its index records, so a document and a
query are always cut the same way.

``english`` (the default), per script:

- Unicode NFKC, then ``casefold`` (lower-casing that also folds ß -> ss, and full-width forms).
- Words are runs of letters and digits (``\\w``); punctuation and spaces separate them.
- Latin, Greek, Cyrillic and other spaced scripts: English stop words (bm25s' list, 33 words:
  the Lucene/Elasticsearch English set) are dropped, then the Snowball English stemmer
  (PyStemmer) maps "proteins" and "protein" to one term. Non-English words go through the
  same stemmer; for most of them it changes little, and never differently at query time.
- Chinese, Japanese kana and Korean hangul have no spaces between words: each run of such
  characters becomes its overlapping character bigrams ("北京大学" -> 北京, 京大, 大学), the way
  Lucene's CJK analyzer does; a single character stays a unigram. No dictionary is needed
  and no word boundary is guessed, so recall holds for any vocabulary.

``simple``: the same tokens with no stop words and no stemming (any language).
"""

from __future__ import annotations

import functools
import re
import unicodedata

ANALYZERS = ("english", "simple")
DEFAULT_ANALYZER = "english"

# CJK ideographs (+ extension A, compatibility), hiragana, katakana, hangul syllables
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u309f\u30a0-\u30ff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")


def check_analyzer(name: str) -> str:
    if name not in ANALYZERS:
        raise ValueError(f"text analyzer must be one of {', '.join(ANALYZERS)}, got {name!r}")
    return name


@functools.cache
def _stop_words() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@functools.cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def analyze(text: str, analyzer: str = DEFAULT_ANALYZER) -> list[str]:
    """The terms of ``text`` in order (repeats kept: term frequency counts them)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    words: list[str] = []
    for run in _TOKEN.findall(text):
        if _IS_CJK.match(run):
            words.extend([run] if len(run) == 1 else [run[i: i + 2] for i in range(len(run) - 1)])
        elif analyzer == "english":
            if run not in _stop_words():
                words.append(run)
        else:
            words.append(run)
    if analyzer == "english":
        stem = _stemmer().stemWords
        latin = [i for i, w in enumerate(words) if not _IS_CJK.match(w)]
        for i, s in zip(latin, stem([words[i] for i in latin])):
            words[i] = s
    return words


def analyze_many(texts, analyzer: str = DEFAULT_ANALYZER) -> list[list[str]]:
    return [analyze(t, analyzer) for t in texts]
