"""Reranker fine-tuning (paper): cross-entropy of the yes/no label token at the last position.

Each training row gives one "yes" pair (query, positive) and ``data.num_negatives`` "no" pairs
(query, hard negative), formatted with the Qwen3-Reranker chat template exactly as
``Reranker`` scores them. The loss is point-wise, so ``gradcache_chunk`` here simply splits a
step into micro-batches whose gradients add up to the full step's.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import DEFAULT_RERANK_INSTRUCTION
from ..runtime.tokenize import RerankTokenizer
from .adapters import apply_lora, base_model, enable_gradient_checkpointing
from .config import ConfigError
from .data import pick_texts
from .encoding import EmbeddingForward
from .export import TokenizerFiles, export_reranker_model
from .losses import RerankLabelLoss
from .trainer import Trainer


class RerankTrainer(Trainer):
    task_name = "train rerank"

    def negatives_per_row(self) -> int:
        return self.cfg.data.num_negatives

    def load_model(self) -> None:
        from ..model.layout import read_layout
        from ..model.loading import load_backbone, load_tokenizer, pick_device
        from ..model.resolve import resolve_model_path

        cfg = self.cfg
        layout = read_layout(resolve_model_path(cfg.model))
        if not layout.is_decoder or not layout.has_lm_head:
            raise ConfigError(f"model {cfg.model} is not a causal LM ({layout.model_type}, {layout.architectures}); "
                              "reranker training needs a Qwen3-Reranker-style checkpoint with an LM head")
        self.device = pick_device(cfg.device)
        self.layout = layout
        self.tokenizer = load_tokenizer(layout)
        try:
            self.rerank_tok = RerankTokenizer(self.tokenizer, cfg.data.max_length)
        except ValueError as e:
            raise ConfigError(f"data.max_length: {e}") from None
        lm = load_backbone(layout, self.device, torch.float32, causal_lm=True)
        self.model = apply_lora(lm, cfg.lora, "CAUSAL_LM")
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        self.tokenizer_files = TokenizerFiles(self.tokenizer)
        self.loss = RerankLabelLoss(cfg.loss.label_softmax)
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0
        # The decoder body only: the (V, H) head is applied to one position per pair, in the loss.
        # Qwen3 bodies run the packed forward that ``Reranker`` scores with.
        body = base_model(self.model).model
        self.forward_last = EmbeddingForward(body, "lasttoken", self.pad_id, self.device, cfg.bf16)

    def build_pairs(self, epoch: int, rows: list[int]) -> tuple[list[list[int]], torch.Tensor]:
        cfg = self.cfg
        ids, labels = [], []
        for r in rows:
            ex = self.rows[r]
            pos, negs = pick_texts(ex, cfg.data.num_negatives, cfg.seed, epoch, r)
            instruction = ex.instruction or cfg.data.query_instruction or DEFAULT_RERANK_INSTRUCTION
            docs = [pos, *negs]
            ids += self.rerank_tok([(ex.query, d) for d in docs], instruction)
            labels += [1] + [0] * len(negs)
        return ids, torch.tensor(labels, device=self.device)

    def training_step(self, epoch: int, rows: list[int]):
        ids, labels = self.build_pairs(epoch, rows)
        head = base_model(self.model).get_output_embeddings().weight  # (V, H)
        chunk = self.cfg.gradcache_chunk or len(ids)
        total = torch.zeros((), device=self.device)
        for s in range(0, len(ids), chunk):
            part = ids[s: s + chunk]
            # Weight by the chunk's share so chunked gradients sum to the local batch's mean;
            # all_reduce_gradients averages the processes' means (equal shares) into the global one.
            loss = self.loss(self.forward_last(part), head, labels[s: s + chunk]) * (len(part) / len(ids))
            loss.backward()
            total += loss.detach()
        return total, sum(len(r) for r in ids)

    def export(self, out: Path) -> Path:
        self.model.eval()
        return export_reranker_model(self.model, self.tokenizer_files, out, self.layout, self.cfg.save_dtype)
