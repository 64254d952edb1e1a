"""Bridge to the MTEB library (mteb 2.x): ``mteb.evaluate(mteb_model(path), tasks)``.

The adapter implements mteb's encoder protocol: ``encode(inputs, *, task_metadata, hf_split,
hf_subset, prompt_type)``, ``similarity``, ``similarity_pairwise`` and ``mteb_model_meta``.
Qwen3 instructions follow the model card: documents (``prompt_type`` = document) get none;
queries, and both sides of symmetric tasks (STS, clustering, classification, bitext: no
prompt_type), get ``Instruct: {instruction}\\nQuery:``. The instruction is chosen by, in order:
an override for the task name, the task's own query prompt, a default for its task type.
mteb is imported only when metadata is asked for, so the adapter itself needs no mteb.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .cache import encode_cached
from .search import l2_normalize

# One instruction per MTEB task type (mteb.abstasks.task_metadata.TaskType), for tasks that
# bring no query prompt of their own. Phrased after the Qwen3/e5 convention "Given X, retrieve Y".
TASK_TYPE_INSTRUCTIONS = {
    "Retrieval": "Given a web search query, retrieve relevant passages that answer the query",
    "Reranking": "Given a query, retrieve documents that are relevant to it",
    "InstructionRetrieval": "Given a query and its instruction, retrieve documents that satisfy both",
    "InstructionReranking": "Given a query and its instruction, retrieve documents that satisfy both",
    "STS": "Retrieve semantically similar text",
    "Summarization": "Given a news summary, retrieve other semantically similar summaries",
    "BitextMining": "Retrieve parallel sentences",
    "Classification": "Classify the given text into its category",
    "MultilabelClassification": "Classify the given text into all categories that apply",
    "Regression": "Represent the text to predict its numeric rating",
    "Clustering": "Identify the main topic or theme of the given text",
    "PairClassification": "Retrieve text that is semantically similar to the given text",
}
FALLBACK_INSTRUCTION = "Represent the given text for retrieval and similarity"


def read_instruction_overrides(path_or_map: str | Path | Mapping[str, str] | None) -> dict[str, str]:
    """Task name -> instruction, from a dict or a JSON file holding one."""
    if path_or_map is None:
        return {}
    if isinstance(path_or_map, Mapping):
        data = dict(path_or_map)
        source = "instructions"
    else:
        source = str(path_or_map)
        try:
            data = json.loads(Path(path_or_map).read_text(encoding="utf-8"))
        except OSError as e:
            raise FileNotFoundError(f"cannot read instruction overrides {source}: {e.strerror or e}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"{source}:{e.lineno}: invalid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError(f"{source}: expected a JSON object mapping task name to instruction string")
    return data


def _prompt_kind(prompt_type) -> str | None:
    """'query', 'document' or None, from mteb's PromptType enum or a plain string."""
    if prompt_type is None:
        return None
    return str(getattr(prompt_type, "value", prompt_type))


class MtebEncoder:
    """A q3embed ``Embedder`` seen through mteb's ``EncoderProtocol``."""

    def __init__(self, embedder, instructions: Mapping[str, str] | None = None, use_instructions: bool | None = None,
                 dim: int | None = None, batch_size: int = 32, name: str | None = None, revision: str | None = None,
                 cache_dir: str | Path | None = None):
        self.embedder = embedder
        self.cache_dir = cache_dir
        self.overrides = dict(instructions or {})
        layout = getattr(embedder, "layout", None)
        # Qwen3 decoders are trained with instructions; encoder baselines (MiniLM) with none.
        self.use_instructions = bool(getattr(layout, "is_decoder", False)) if use_instructions is None else use_instructions
        self.dim = embedder.check_dim(dim) if dim is not None and hasattr(embedder, "check_dim") else dim
        self.batch_size = batch_size
        self.name = name or _meta_name(getattr(embedder, "name", "q3embed/model"))
        self.revision = revision

    def instruction_for(self, task_metadata, prompt_type=None) -> str | None:
        """The instruction for this task and side, or None (documents; models without instructions)."""
        if not self.use_instructions or _prompt_kind(prompt_type) == "document":
            return None
        name = getattr(task_metadata, "name", None)
        if name in self.overrides:
            return self.overrides[name]
        prompt = getattr(task_metadata, "prompt", None)
        if isinstance(prompt, Mapping):
            prompt = prompt.get(_prompt_kind(prompt_type) or "query")
        if isinstance(prompt, str) and prompt:
            return prompt
        return TASK_TYPE_INSTRUCTIONS.get(getattr(task_metadata, "type", None), FALLBACK_INSTRUCTION)

    def encode(self, inputs, *, task_metadata, hf_split: str = "", hf_subset: str = "", prompt_type=None,
               **kwargs) -> np.ndarray:
        """Embed every text of ``inputs`` (an iterable of batches with a "text" list). -> (N, d) float32."""
        texts = []
        for batch in inputs:
            texts.extend(batch["text"] if isinstance(batch, Mapping) else batch)
        if not texts:
            return np.zeros((0, self.dim or getattr(self.embedder, "width", 0)), dtype=np.float32)
        return encode_cached(self.embedder, texts, instruction=self.instruction_for(task_metadata, prompt_type),
                             dim=self.dim, batch_size=kwargs.get("batch_size", self.batch_size),
                             cache_dir=self.cache_dir, show_progress=bool(kwargs.get("show_progress_bar", False)))

    def similarity(self, embeddings1, embeddings2):
        """Cosine similarity matrix: (A, d), (B, d) -> (A, B) torch tensor, as sentence-transformers returns."""
        import torch

        a, b = _as_2d(embeddings1), _as_2d(embeddings2)
        return torch.from_numpy(l2_normalize(a) @ l2_normalize(b).T)

    def similarity_pairwise(self, embeddings1, embeddings2):
        """Cosine of each row pair: (N, d), (N, d) -> (N,) torch tensor."""
        import torch

        a, b = l2_normalize(_as_2d(embeddings1)), l2_normalize(_as_2d(embeddings2))
        return torch.from_numpy((a * b).sum(1))

    @property
    def mteb_model_meta(self):
        from mteb.models.model_meta import ModelMeta, ScoringFunction

        layout = getattr(self.embedder, "layout", None)
        return ModelMeta.create_empty(overwrites=dict(
            name=self.name,
            revision=self.revision or "local",
            embed_dim=self.dim or getattr(self.embedder, "width", None),
            max_tokens=getattr(self.embedder, "max_length", None),
            similarity_fn_name=ScoringFunction.COSINE,
            use_instructions=self.use_instructions,
            open_weights=True,
            framework=["PyTorch"],
            reference=str(getattr(layout, "root", "")) or None,
        ))

    def __repr__(self) -> str:
        return f"MtebEncoder({self.name!r}, instructions={'on' if self.use_instructions else 'off'}, dim={self.dim})"


def _as_2d(x) -> np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    arr = arr.astype(np.float32, copy=False)
    return arr[None, :] if arr.ndim == 1 else arr


def _meta_name(name: str) -> str:
    """mteb wants 'organization/model'; a local path becomes 'local/<folder name>'."""
    text = str(name)
    if "/" in text and not Path(text).exists() and text.count("/") == 1:
        return text
    return f"local/{Path(text).name or 'model'}"


def mteb_model(path_or_embedder, *, device=None, dtype=None, max_length: int | None = None,
               instructions: str | Path | Mapping[str, str] | None = None, use_instructions: bool | None = None,
               dim: int | None = None, batch_size: int = 32, name: str | None = None,
               cache_dir: str | Path | None = None) -> MtebEncoder:
    """An object ``mteb.evaluate`` accepts, wrapping a q3embed checkpoint (or a loaded Embedder).

    ``instructions``: task name -> instruction overrides (dict or JSON file). ``use_instructions``:
    None = on for Qwen3 decoders, off for encoder baselines. ``cache_dir``: q3embed's embedding
    cache, shared with ``q3embed eval``.

    >>> import mteb
    >>> model = mteb_model("Qwen/Qwen3-Embedding-0.6B")
    >>> results = mteb.evaluate(model, mteb.get_tasks(tasks=["SciFact", "STSBenchmark"]))
    """
    if isinstance(path_or_embedder, (str, Path)):
        from ..engine import Embedder

        embedder = Embedder.load(path_or_embedder, device=device, dtype=dtype, max_length=max_length)
    else:
        embedder = path_or_embedder
    return MtebEncoder(embedder, read_instruction_overrides(instructions), use_instructions=use_instructions, dim=dim,
                       batch_size=batch_size, name=name, cache_dir=cache_dir)
