"""LLM-driven synthetic training pairs (the paper's two-step recipe) and the cosine filter.

Torch-free except ``filter`` (which needs an Embedder).
"""

from .client import ChatClient, EndpointError, RetryPolicy
from .counts import FailureCounts
from .generate import SynthConfig, SynthReport, plan_jobs, run_synthesis, synthesize_job
from .personas import load_personas
from .prompts import load_prompts
from .store import PairStore, normalise
from .tasks import TASKS

__all__ = [
    "ChatClient", "EndpointError", "RetryPolicy", "FailureCounts", "SynthConfig",
    "SynthReport", "plan_jobs", "run_synthesis", "synthesize_job", "load_personas", "load_prompts", "PairStore",
    "normalise", "TASKS",
]
