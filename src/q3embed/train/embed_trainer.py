"""Embedding fine-tuning: the paper's InfoNCE over (query, positive, hard negatives) batches."""

from __future__ import annotations

from pathlib import Path

import torch

from .adapters import apply_lora, enable_gradient_checkpointing
from .config import ConfigError, EmbedTrainConfig
from .data import pick_texts, text_key
from .distributed import gather_ids, gather_with_grad
from .encoding import EmbeddingForward
from .export import TokenizerFiles, export_embedding_model
from .gradcache import gradcache_step, plain_step
from .losses import InfoNCELoss, MatryoshkaLoss
from .trainer import Trainer


class EmbedTrainer(Trainer):
    task_name = "train embed"

    def __init__(self, cfg: EmbedTrainConfig):
        super().__init__(cfg)

    def negatives_per_row(self) -> int:
        # Negatives cost a forward each; skip them entirely when the loss does not use them.
        return self.cfg.data.num_negatives if self.cfg.loss.hard_negatives else 0

    def load_model(self) -> None:
        from ..engine import Embedder

        cfg = self.cfg
        try:
            self.embedder = Embedder.load(cfg.model, device=cfg.device, dtype="float32", max_length=cfg.data.max_length)
        except ValueError as e:
            raise ConfigError(f"data.max_length: {e}") from None
        self.device = self.embedder.device
        self.layout = self.embedder.layout
        width = self.embedder.width
        if cfg.loss.mrl_dims and max(cfg.loss.mrl_dims) > width:
            raise ConfigError(f"loss.mrl_dims {cfg.loss.mrl_dims} go beyond the model width {width}")
        self.model = apply_lora(self.embedder.model, cfg.lora, "FEATURE_EXTRACTION")
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.model)
        self.encode = EmbeddingForward(self.model, self.layout.pooling, self.embedder.pad_id, self.device, cfg.bf16)
        loss = InfoNCELoss.from_config(cfg.loss)
        self.loss = MatryoshkaLoss(loss, cfg.loss.mrl_dims, cfg.loss.mrl_weights) if cfg.loss.mrl_dims else loss
        self.tokenizer_files = TokenizerFiles(self.embedder.tokenizer, append_eos=self.layout.is_decoder)
        self.default_instruction = cfg.data.query_instruction
        if self.default_instruction is None and self.layout.is_decoder:
            self.default_instruction = self.embedder.query_instruction

    def query_ids(self, queries: list[str], instructions: list[str | None]) -> list[list[int]]:
        """Token ids of each query with its instruction, exactly as ``Embedder`` would feed them."""
        out: list[list[int] | None] = [None] * len(queries)
        for instr in set(instructions):
            idx = [i for i, x in enumerate(instructions) if x == instr]
            for i, ids in zip(idx, self.embedder.tokenize([queries[i] for i in idx], instr)):
                out[i] = ids
        return out

    def build_batch(self, epoch: int, rows: list[int]):
        cfg, K = self.cfg, self.negatives_per_row()
        examples = [self.rows[r] for r in rows]
        picks = [pick_texts(ex, K, cfg.seed, epoch, r) for ex, r in zip(examples, rows)]
        instructions = [ex.instruction or self.default_instruction for ex in examples]
        q_rows = self.query_ids([ex.query for ex in examples], instructions)
        p_rows = self.embedder.tokenize([p for p, _ in picks])
        n_rows = self.embedder.tokenize([n for _, negs in picks for n in negs]) if K else []
        pos_keys = torch.tensor([text_key(p) for p, _ in picks], device=self.device)  # (n,)
        neg_keys = torch.tensor([[text_key(n) for n in negs] for _, negs in picks], dtype=torch.long,
                                device=self.device).view(len(rows), K)  # (n, K)
        return q_rows, p_rows, n_rows, pos_keys, neg_keys

    def training_step(self, epoch: int, rows: list[int]):
        q_rows, p_rows, n_rows, pos_keys, neg_keys = self.build_batch(epoch, rows)
        K = self.negatives_per_row()
        all_pos_keys, all_neg_keys = gather_ids(pos_keys), gather_ids(neg_keys)  # (N,), (N, K)

        def loss_fn(q, p, n):
            q, p = gather_with_grad(q), gather_with_grad(p)  # (N, H): every process's rows
            if n is not None:
                n = gather_with_grad(n).view(q.shape[0], K, -1)  # (N, K, H)
            return self.loss(q, p, n, pos_keys=all_pos_keys, neg_keys=all_neg_keys if K else None)

        groups = [q_rows, p_rows, n_rows]
        if self.cfg.gradcache_chunk:
            loss = gradcache_step(self.encode, groups, loss_fn, self.cfg.gradcache_chunk, self.device)
        else:
            loss = plain_step(self.encode, groups, loss_fn)
        tokens = sum(len(r) for g in groups for r in g)
        return loss, tokens

    def export(self, out: Path) -> Path:
        self.model.eval()
        return export_embedding_model(self.model, self.tokenizer_files, self.layout, out,
                                      query_instruction=self.default_instruction if self.layout.is_decoder else None,
                                      dtype=self.cfg.save_dtype)
