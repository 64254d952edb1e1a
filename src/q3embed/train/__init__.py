"""Fine-tuning: the paper's embedding and reranker training, with hard-negative mining.

Library pieces (configs, data, losses, GradCache, distributed gather, export) are importable on
their own; ``EmbedTrainer`` / ``RerankTrainer`` join them into a ``setup() -> train() ->
save_checkpoint()`` recipe. Heavy imports (torch, peft) happen inside the modules that need them.
"""
