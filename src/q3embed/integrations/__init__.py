"""Adapters for the RAG frameworks people already use, over the in-process engine.

- ``q3embed.integrations.langchain``: ``Q3Embeddings`` (``langchain_core.embeddings.Embeddings``)
  and ``Q3Reranker`` (a ``BaseDocumentCompressor``).
- ``q3embed.integrations.llama_index``: ``Q3Embedding`` (``BaseEmbedding``) and
  ``Q3RerankPostprocessor`` (``BaseNodePostprocessor``).

Each module imports its framework on import, so install the ``integrations`` extra
(``pip install q3embed[integrations]``). Against a running ``q3embed serve``, the frameworks'
own OpenAI-compatible classes work too; docs/integrations.md gives the settings they need.
"""
