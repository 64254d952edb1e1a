"""The paper's two-step synthesis, one job per (passage, task, variant).

Step 1: the LLM picks a persona from a few candidates, the query type and the difficulty
that fit the passage. Step 2: it writes the query under explicit controls (task type,
language, length, difficulty, persona). Language, length and the persona candidates are
drawn by the pipeline from a seeded RNG per job key, so a rerun plans the same jobs.
"""

from __future__ import annotations

import itertools
import random
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ..data.corpus import Document
from ..schema import ConfigDict, Field, TypedConfig, field_validator
from .client import ChatClient, TransientError
from .counts import FailureCounts
from .parse import BadAnswer, extract_json, validate_answer, validate_selection
from .prompts import PromptSet
from .store import PairStore
from .tasks import DIFFICULTIES, LENGTHS, TASKS, Length, TaskName, TaskSpec, language_name


class SynthConfig(TypedConfig):
    """What the LLM path plans. The pipeline recipe's ``synth`` section carries these keys too."""

    model_config = ConfigDict(frozen=True)
    tasks: tuple[TaskName, ...] = Field(("retrieval",), min_length=1)
    languages: tuple[str, ...] = Field(("en",), min_length=1)  # codes; unknown ones reach the LLM as written
    lengths: tuple[Length, ...] = Field(tuple(LENGTHS), min_length=1)
    per_passage: int = Field(1, ge=1)        # variants per (passage, task)
    n: int | None = Field(None, ge=1)        # at most this many jobs, in corpus order
    candidates: int = Field(5, ge=1)         # personas offered to the LLM in step 1
    answer_retries: int = Field(3, ge=0)     # re-asks after a malformed or wrong-schema answer, per step
    seed: int = 0

    @field_validator("tasks")
    @classmethod
    def _once(cls, tasks: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(tasks))  # "retrieval,retrieval" plans each job once

    @property
    def specs(self) -> tuple[TaskSpec, ...]:
        return tuple(TASKS[name] for name in self.tasks)


@dataclass(frozen=True)
class Job:
    key: str
    passage: Document
    task: TaskSpec
    variant: int
    language: str
    length: str
    candidates: tuple[str, ...]


@dataclass
class SynthReport:
    planned: int
    counts: FailureCounts
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)  # "key: last error", for the jobs that gave up

    @property
    def ok(self) -> bool:
        return self.counts["gave_up"] == 0


def plan_jobs(passages: list[Document], personas: list[str], config: SynthConfig) -> list[Job]:
    jobs = []
    for p in passages:
        for task in config.specs:
            for v in range(config.per_passage):
                key = f"{p.id}|{task.name}|{v}"
                rng = random.Random(f"{config.seed}|{key}")  # str seeds are stable across runs
                k = min(config.candidates, len(personas))
                jobs.append(Job(key, p, task, v, rng.choice(config.languages), rng.choice(config.lengths),
                                tuple(rng.sample(personas, k))))
                if config.n and len(jobs) >= config.n:
                    return jobs
    return jobs


def select_messages(job: Job, prompts: PromptSet) -> list[dict]:
    listing = "\n".join(f"{i}. {c}" for i, c in enumerate(job.candidates, start=1))
    text = prompts.render_select(task=job.task.name, passage=job.passage.text, personas=listing,
                                 query_types=", ".join(job.task.query_types), difficulties=", ".join(DIFFICULTIES))
    return [{"role": "user", "content": text}]


def write_messages(job: Job, prompts: PromptSet, persona: str, query_type: str, difficulty: str) -> list[dict]:
    text = prompts.render_write(job.task.name, persona=persona, passage=job.passage.text, query_type=query_type,
                                difficulty=difficulty.replace("_", " "), language=language_name(job.language),
                                length=LENGTHS[job.length])
    return [{"role": "user", "content": text}]


def _ask(client: ChatClient, messages: list[dict], validate, config: SynthConfig):
    """Chat, parse, validate; re-ask (with backoff) on a malformed answer."""
    for attempt in range(config.answer_retries + 1):
        text = client.chat(messages)
        try:
            return validate(extract_json(text))
        except BadAnswer as e:
            client.counts.add(e.kind)
            if attempt == config.answer_retries:
                raise
            time.sleep(client.retry.delay(attempt + 1))
    raise AssertionError("unreachable")


def synthesize_job(job: Job, client: ChatClient, prompts: PromptSet, config: SynthConfig) -> dict:
    """Both steps for one job -> a training record with provenance. Raises on final failure."""
    persona, qtype, difficulty = _ask(client, select_messages(job, prompts),
                                      lambda o: validate_selection(o, list(job.candidates), job.task), config)
    answer = _ask(client, write_messages(job, prompts, persona, qtype, difficulty),
                  lambda o: validate_answer(o, job.task), config)
    record = {"key": job.key, **job.task.pair(answer, job.passage.text, qtype, job.language)}
    record["provenance"] = {
        "source": "q3embed synth", "passage_id": job.passage.id, "task": job.task.name, "variant": job.variant,
        "persona": persona, "query_type": qtype, "difficulty": difficulty, "language": job.language,
        "length": job.length, "llm_model": client.model, "prompt_sha": prompts.sha, "seed": config.seed,
    }
    if job.task.name == "classification":
        record["provenance"]["label"] = answer["label"]
    return record


def run_synthesis(passages: list[Document], personas: list[str], client: ChatClient, prompts: PromptSet,
                  store: PairStore, config: SynthConfig, concurrency: int = 8,
                  show_progress: bool = False) -> SynthReport:
    """Run every planned job not already in ``store``; failures are counted, never fatal."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    jobs = plan_jobs(passages, personas, config)
    report = SynthReport(planned=len(jobs), counts=client.counts)
    todo = [j for j in jobs if not store.is_done(j.key)]
    report.counts.add("resumed", len(jobs) - len(todo))
    start = time.perf_counter()
    progress = _progress(len(todo), show_progress)

    def one(job: Job):
        try:
            return job, synthesize_job(job, client, prompts, config), None
        except (TransientError, BadAnswer) as e:
            return job, None, e

    # A bounded window of in-flight jobs keeps memory flat on a large corpus.
    window = concurrency * 4
    pending_jobs = iter(todo)
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        running = {pool.submit(one, j) for j in itertools.islice(pending_jobs, window)}
        try:
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    # An EndpointError (e.g. HTTP 401/404) propagates: every other job would fail alike.
                    job, record, err = fut.result()
                    _account(report, store, job, record, err)
                    if progress is not None:
                        progress.update(1)
                running |= {pool.submit(one, j) for j in itertools.islice(pending_jobs, len(finished))}
        except BaseException:
            for fut in running:
                fut.cancel()
            raise
    if progress is not None:
        progress.close()
    report.seconds = time.perf_counter() - start
    return report


def _account(report: SynthReport, store: PairStore, job: Job, record: dict | None, err: Exception | None) -> None:
    if err is not None:
        report.counts.add("gave_up")
        report.failures.append(f"{job.key}: {err}")
    elif store.add(record):
        report.counts.add("written")
    else:
        report.counts.add("duplicate")


def _progress(total: int, enabled: bool):
    if not enabled:
        return None
    from ..progress import tqdm

    return tqdm(total=total, desc="synthesising", unit="job")
