"""The four synthetic task types (paper: retrieval, bitext mining, classification, STS).

Each ``TaskSpec`` says what the LLM may choose in step 1 (query types), which JSON fields it
must return in step 2, and how that answer becomes a training pair (``query``, ``pos``,
``neg``, ``instruction``). Prompt wording lives in ``prompts/<task>.txt``, not here.
No torch import.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

DIFFICULTIES = ("high_school", "university", "phd")

# Length controls for step 2. The pipeline (not the LLM) draws one per job so that the
# length mix is set by the user's run, as the paper's "explicit controls".
LENGTHS = {
    "short": "fewer than 8 words",
    "medium": "8 to 20 words",
    "long": "20 to 50 words",
}
Length = Literal["short", "medium", "long"]  # the keys of LENGTHS, as a config type
TaskName = Literal["retrieval", "bitext", "classification", "sts"]  # the keys of TASKS, as a config type

LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "de": "German", "fr": "French", "es": "Spanish",
    "it": "Italian", "pt": "Portuguese", "ru": "Russian", "ja": "Japanese", "ko": "Korean",
    "ar": "Arabic", "hi": "Hindi", "nl": "Dutch", "pl": "Polish", "tr": "Turkish",
    "vi": "Vietnamese", "id": "Indonesian", "th": "Thai", "sv": "Swedish", "uk": "Ukrainian",
}


def language_name(code: str) -> str:
    """'de' -> 'German'; unknown codes are passed to the LLM as written."""
    return LANGUAGE_NAMES.get(code.lower(), code)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    query_types: tuple[str, ...]
    fields: tuple[str, ...]   # step-2 JSON keys the answer must carry (non-empty strings)
    instruction: str          # training instruction; may use {query_type} and {language}

    def __post_init__(self) -> None:
        if not self.query_types or not self.fields:
            raise ValueError(f"task {self.name}: query_types and fields must be non-empty")

    def pair(self, answer: dict, passage: str, query_type: str, language: str) -> dict:
        """Turn a validated step-2 answer into ``query``/``pos``/``neg``/``instruction``."""
        inst = self.instruction.format(query_type=query_type.replace("_", " "), language=language_name(language))
        if self.name == "retrieval":
            return {"query": answer["query"], "pos": [passage], "instruction": inst}
        if self.name == "bitext":
            return {"query": answer["translation"], "pos": [answer["source"]], "instruction": inst}
        if self.name == "sts":
            return {"query": answer["paraphrase"], "pos": [answer["sentence"]], "instruction": inst}
        if self.name == "classification":
            # Classification as contrastive pairs (as in the paper's training mix): text -> its label,
            # the LLM's other candidate labels are the hard negatives.
            neg = [x for x in answer.get("other_labels", []) if isinstance(x, str) and x.strip()
                   and x.strip().lower() != answer["label"].strip().lower()]
            rec = {"query": answer["text"], "pos": [answer["label"]], "instruction": inst}
            if neg:
                rec["neg"] = neg
            return rec
        raise ValueError(f"no pair rule for task {self.name!r}")


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec("retrieval", ("keywords", "factual_question", "how_to", "summary_request", "yes_no_judgement"),
                 ("query",), "Given a {query_type} query, retrieve relevant passages that answer the query"),
        TaskSpec("bitext", ("literal_translation", "free_translation", "summary_translation"),
                 ("source", "translation"), "Retrieve parallel sentences in {language}"),
        TaskSpec("classification", ("topic", "sentiment", "intent", "genre"),
                 ("text", "label"), "Classify the given text by its {query_type}"),
        TaskSpec("sts", ("paraphrase", "simplification", "elaboration"),
                 ("sentence", "paraphrase"), "Retrieve semantically similar text"),
    )
}

assert set(typing.get_args(TaskName)) == set(TASKS) and set(typing.get_args(Length)) == set(LENGTHS)
