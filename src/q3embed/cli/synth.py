from __future__ import annotations

from ._common import add_verb, config_from_flags


def register(sub) -> None:
    p = add_verb(sub, "synth", run, "synthesise training pairs from a corpus with any OpenAI-compatible LLM",
                 "Two steps per passage (Qwen3 Embedding paper): the LLM picks a persona, query type and\n"
                 "difficulty, then writes the query under explicit controls (task, language, length,\n"
                 "difficulty, persona). Output: training-format JSONL (query, pos, neg, instruction,\n"
                 "provenance), append-only: rerun the same command to resume a killed run.\n\n"
                 "Endpoints: vLLM  http://localhost:8000/v1 | llama.cpp server  http://localhost:8080/v1 |\n"
                 "Ollama  http://localhost:11434/v1  (see docs/synth.md).\n\n"
                 "No LLM? --weak title,first_sentence writes weak pairs from the corpus itself (a\n"
                 "passage's title or first sentence as the query for the rest of it; the weak-\n"
                 "supervision variant of stage 1, not the paper's LLM-written queries).")
    p.add_argument("--llm-base-url", default=None, help="OpenAI-style API root, e.g. http://localhost:8000/v1")
    p.add_argument("--llm-model", default=None, help="model name as the endpoint lists it at /v1/models")
    p.add_argument("--weak", default=None, metavar="FORMS",
                   help="no LLM: weak pairs of these forms, comma list of title,first_sentence")
    p.add_argument("--llm-api-key", default=None, help="bearer token, if the endpoint needs one")
    p.add_argument("--corpus", required=True, help="passages: BEIR corpus.jsonl (_id, title, text) or .txt (one per line)")
    p.add_argument("--out", required=True, help="output pairs .jsonl (appended to; resumes)")
    p.add_argument("--tasks", default="retrieval", help="comma list of retrieval,bitext,classification,sts (default retrieval)")
    p.add_argument("--languages", default="en", help="comma list of language codes drawn per job (default en)")
    p.add_argument("--lengths", default="short,medium,long", help="comma list of short,medium,long drawn per job")
    p.add_argument("--personas", default=None, help="persona file: Persona Hub JSONL or .txt (default: packaged list)")
    p.add_argument("--prompts", default=None, help="directory with replacement select.txt / <task>.txt templates")
    p.add_argument("--n", type=int, default=None, help="at most N jobs (passage x task x variant), in corpus order")
    p.add_argument("--per-passage", type=int, default=1, help="variants per passage and task (default 1)")
    p.add_argument("--candidates", type=int, default=5, help="personas offered to the LLM per job (default 5)")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    p.add_argument("--rate-limit", type=float, default=None, help="max requests per second (default: unlimited)")
    p.add_argument("--max-retries", type=int, default=5, help="retries per request on 429/5xx/network errors (default 5)")
    p.add_argument("--answer-retries", type=int, default=3, help="re-asks after a malformed answer (default 3)")
    p.add_argument("--backoff", type=float, default=0.5, help="first backoff in seconds; doubles per retry (default 0.5)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    p.add_argument("--seed", type=int, default=0, help="seed for the per-job language/length/persona draws")
    p.set_defaults(llm_only_defaults={dest: p.get_default(dest) for dest in LLM_ONLY})


# Flags that shape LLM requests; with --weak a non-default value would be silently ignored, so it is refused.
LLM_ONLY = ("llm_base_url", "llm_model", "llm_api_key", "tasks", "languages", "lengths", "personas", "prompts",
            "per_passage", "candidates", "concurrency", "rate_limit", "max_retries", "answer_retries", "backoff",
            "timeout", "temperature", "seed")


# The config key each flag sets; a config error is reworded to name the flag the user typed.
FLAGS = {"tasks": "--tasks", "languages": "--languages", "lengths": "--lengths", "per_passage": "--per-passage",
         "n": "--n", "candidates": "--candidates", "answer_retries": "--answer-retries", "seed": "--seed",
         "forms": "--weak"}


def _csv(value: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip())


def run(args) -> int:
    import sys

    from ..synth.client import RetryPolicy
    from ..synth.generate import SynthConfig
    from ..synth.runner import format_report, synthesize

    if args.weak is not None:
        return _run_weak(args)
    if not args.llm_base_url or not args.llm_model:
        raise ValueError("synth needs --llm-base-url and --llm-model (an LLM endpoint), or --weak FORMS "
                         "(weak pairs from the corpus, no LLM)")
    config = config_from_flags(SynthConfig, FLAGS, tasks=_csv(args.tasks), languages=_csv(args.languages),
                               lengths=_csv(args.lengths), per_passage=args.per_passage, n=args.n,
                               candidates=args.candidates, answer_retries=args.answer_retries, seed=args.seed)
    retry = config_from_flags(RetryPolicy, {"max_retries": "--max-retries", "backoff_base": "--backoff"},
                              max_retries=args.max_retries, backoff_base=args.backoff)
    report = synthesize(args.corpus, args.out, args.llm_base_url, args.llm_model, config, api_key=args.llm_api_key,
                        personas=args.personas, prompts_dir=args.prompts, concurrency=args.concurrency,
                        rate_limit=args.rate_limit, retry=retry, timeout=args.timeout, temperature=args.temperature,
                        show_progress=True)
    print(format_report(report), file=sys.stderr)
    if not report.ok:
        print(f"q3embed synth: {report.counts['gave_up']} job(s) failed after retries; "
              f"rerun the same command to retry only those", file=sys.stderr)
        return 3
    return 0


def _run_weak(args) -> int:
    import sys

    from ..synth.runner import format_report, synthesize_weak
    from ..synth.weak import WeakConfig

    given = ["--" + dest.replace("_", "-") for dest, default in args.llm_only_defaults.items()
             if getattr(args, dest) != default]
    if given:
        raise ValueError(f"--weak makes pairs without an LLM, so {', '.join(given)} would be ignored; "
                         f"drop {'it' if len(given) == 1 else 'them'}, or drop --weak")
    config = config_from_flags(WeakConfig, FLAGS, forms=_csv(args.weak), n=args.n)
    report = synthesize_weak(args.corpus, args.out, config)
    print(format_report(report).replace("jobs planned", "weak pairs planned"), file=sys.stderr)
    if report.planned == 0:  # not a success: nothing was, or ever will be, written
        hint = "a .txt corpus has no titles; " if "title" in config.forms else ""
        raise ValueError(f"no passage of {args.corpus} gives a weak pair of the forms {args.weak} "
                         f"({hint}see the skip counts above)")
    return 0
