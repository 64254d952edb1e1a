"""One loss per file: the paper's InfoNCE, its Matryoshka wrapper, and the reranker's label CE."""

from .infonce import InfoNCELoss
from .matryoshka import MatryoshkaLoss
from .rerank_ce import RerankLabelLoss

__all__ = ["InfoNCELoss", "MatryoshkaLoss", "RerankLabelLoss"]
