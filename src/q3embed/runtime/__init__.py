"""The one inference runtime: tokenization into model rows, packing, the packed Qwen3 forward
(CPU loop and CUDA varlen), the shared-prefix KV path, pooling and batching rules.

Sits above ``model/`` (finding and loading checkpoints) and below ``engine/`` (the public
Embedder and Reranker), the server, evaluation and training, which all run this code.
"""
