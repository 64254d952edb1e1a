"""The exact prompts sent for each task type and control setting, and the answer parsing."""

from __future__ import annotations

import pytest

from q3embed.data import Document
from q3embed.synth.client import ChatClient, RetryPolicy
from q3embed.synth.generate import Job, SynthConfig, select_messages, synthesize_job, write_messages
from q3embed.synth.parse import BadAnswer, extract_json, validate_answer, validate_selection
from q3embed.synth.prompts import load_prompts
from q3embed.synth.tasks import TASKS

PASSAGE = Document("d1", "Tea contains caffeine. Green tea is less oxidised than black tea.")
CANDIDATES = ("a chef developing recipes", "a pharmacist checking drug interactions")


def job(task: str, language: str = "de", length: str = "short") -> Job:
    return Job(f"d1|{task}|0", PASSAGE, TASKS[task], 0, language, length, CANDIDATES)


@pytest.fixture(scope="module")
def prompts():
    return load_prompts(list(TASKS.values()))


def test_select_prompt_exact(prompts):
    text = select_messages(job("retrieval"), prompts)[0]["content"]
    assert text == '''You are preparing training data for a text embedding model. The task type is: retrieval.

Read the passage below. Then choose, from the candidate personas, the one person most likely to
be looking for or working with this passage; choose the query type that fits the passage best;
and choose the difficulty level of the query that such a person would write.

Passage:
"""
Tea contains caffeine. Green tea is less oxidised than black tea.
"""

Candidate personas:
1. a chef developing recipes
2. a pharmacist checking drug interactions

Query types: keywords, factual_question, how_to, summary_request, yes_no_judgement
Difficulty levels: high_school, university, phd

Answer with a JSON object only, no other text, in exactly this form:
{"persona": <number of the chosen persona>, "query_type": "<one of the query types>", "difficulty": "<one of the difficulty levels>"}
'''


def test_select_prompt_lists_each_task_query_types(prompts):
    for name, spec in TASKS.items():
        text = select_messages(job(name), prompts)[0]["content"]
        assert f"The task type is: {name}." in text
        assert f"Query types: {', '.join(spec.query_types)}\n" in text


def test_retrieval_write_prompt_exact(prompts):
    text = write_messages(job("retrieval", "zh", "long"), prompts, CANDIDATES[1], "how_to", "phd")[0]["content"]
    assert text == '''You are a pharmacist checking drug interactions.

Write a search query that you would type to find the passage below. Follow every control:
- query type: how_to
- language of the query: Chinese
- length of the query: 20 to 50 words
- difficulty: phd level of knowledge
- the passage must answer the query, but do not copy long phrases from it

Passage:
"""
Tea contains caffeine. Green tea is less oxidised than black tea.
"""

Answer with a JSON object only, no other text, in exactly this form:
{"query": "<the query>"}
'''


@pytest.mark.parametrize("task, lines", [
    ("bitext", ["and translate it into German.", "- translation style: free_translation",
                "- length of the translation: fewer than 8 words", "- difficulty: keep the vocabulary at high school level",
                '{"source": "<the span copied from the passage>", "translation": "<its translation into German>"}']),
    ("classification", ["belongs to some category by its free_translation.", "- language of the text: German",
                        "- length of the text: fewer than 8 words", "- difficulty: high school level of writing",
                        '{"text": "<your new text>", "label": "<its category label>", "other_labels": ["<wrong label>", "<wrong label>"]}']),
    ("sts", ["- kind of rewrite: free_translation", "- language of the rewrite: German",
             "- length of the rewrite: fewer than 8 words", "- difficulty: high school level of vocabulary",
             '{"sentence": "<the sentence copied from the passage>", "paraphrase": "<your rewrite>"}']),
])
def test_write_prompts_carry_every_control(prompts, task, lines):
    text = write_messages(job(task), prompts, CANDIDATES[0], "free_translation", "high_school")[0]["content"]
    assert text.startswith("You are a chef developing recipes.\n")
    assert '"""\nTea contains caffeine. Green tea is less oxidised than black tea.\n"""' in text
    for line in lines:
        assert line in text, line


def test_what_is_sent_is_what_is_rendered(fake_llm, prompts):
    with ChatClient(fake_llm.url, fake_llm.model, retry=RetryPolicy(backoff_base=0.0)) as client:
        rec = synthesize_job(job("retrieval"), client, prompts, SynthConfig(tasks=("retrieval",)))
    sent = [r["messages"] for r in fake_llm.requests]
    p = rec["provenance"]
    assert sent == [select_messages(job("retrieval"), prompts),
                    write_messages(job("retrieval"), prompts, p["persona"], p["query_type"], p["difficulty"])]
    assert fake_llm.requests[0]["model"] == fake_llm.model
    assert rec["pos"] == [PASSAGE.text] and rec["query"].startswith("what about tea contains")
    assert p["llm_model"] == fake_llm.model and p["passage_id"] == "d1" and p["language"] == "de"
    assert p["persona"] in CANDIDATES and p["prompt_sha"] == prompts.sha


def test_user_prompt_dir_replaces_one_template(tmp_path):
    (tmp_path / "retrieval.txt").write_text("Q for $passage as $persona in $language ($length, $difficulty, $query_type)")
    ps = load_prompts([TASKS["retrieval"], TASKS["sts"]], tmp_path)
    text = write_messages(job("retrieval"), ps, "me", "keywords", "phd")[0]["content"]
    assert text == f"Q for {PASSAGE.text} as me in German (fewer than 8 words, phd, keywords)"
    assert ps.sha != load_prompts([TASKS["retrieval"], TASKS["sts"]]).sha
    (tmp_path / "sts.txt").write_text("bad $nosuchfield")
    with pytest.raises(ValueError, match=r"sts.txt.*nosuchfield.*accepted"):
        load_prompts([TASKS["sts"]], tmp_path)


# -- parsing -----------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"query": "x"}',
    'Here you go:\n```json\n{"query": "x"}\n```',
    '<think>\nhmm {not json}\n</think>\n\n{"query": "x"}',
    'Sure. {"query": "x"} Hope it helps.',
])
def test_extract_json_variants(text):
    assert extract_json(text) == {"query": "x"}


@pytest.mark.parametrize("text", ["no json here", '{"query": "x",}', "[1, 2]", ""])
def test_extract_json_rejects(text):
    with pytest.raises(BadAnswer) as e:
        extract_json(text)
    assert e.value.kind == "bad_json"


def test_validate_selection_accepts_number_or_text_and_normalises():
    spec = TASKS["retrieval"]
    assert validate_selection({"persona": 2, "query_type": "Factual Question", "difficulty": "PhD"},
                              list(CANDIDATES), spec) == (CANDIDATES[1], "factual_question", "phd")
    assert validate_selection({"persona": "A chef developing recipes", "query_type": "keywords",
                               "difficulty": "high-school"}, list(CANDIDATES), spec)[0] == CANDIDATES[0]


@pytest.mark.parametrize("obj, field", [
    ({"persona": 3, "query_type": "keywords", "difficulty": "phd"}, "persona"),
    ({"persona": True, "query_type": "keywords", "difficulty": "phd"}, "persona"),
    ({"persona": 1, "query_type": "poem", "difficulty": "phd"}, "query_type"),
    ({"persona": 1, "query_type": "keywords", "difficulty": "expert"}, "difficulty"),
])
def test_validate_selection_rejects(obj, field):
    with pytest.raises(BadAnswer, match=field) as e:
        validate_selection(obj, list(CANDIDATES), TASKS["retrieval"])
    assert e.value.kind == "bad_schema"


def test_validate_answer_and_pairs():
    with pytest.raises(BadAnswer, match="translation"):
        validate_answer({"source": "a", "translation": "  "}, TASKS["bitext"])
    ans = validate_answer({"text": " t ", "label": "Food", "other_labels": ["food", "sport"]}, TASKS["classification"])
    pair = TASKS["classification"].pair(ans, "passage", "topic", "en")
    assert pair == {"query": "t", "pos": ["Food"], "neg": ["sport"], "instruction": "Classify the given text by its topic"}
    pair = TASKS["retrieval"].pair({"query": "q"}, "passage", "factual_question", "en")
    assert pair["instruction"] == "Given a factual question query, retrieve relevant passages that answer the query"
