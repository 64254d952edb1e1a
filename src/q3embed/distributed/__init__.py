"""Corpus embedding on a Ray cluster: Ray Data reads the corpus, an actor pool of Embedders embeds it,
and the driver writes the vectors into a store (see ``ingest.build_on_ray``)."""

from .ingest import RayBuildConfig, build_on_ray

__all__ = ["RayBuildConfig", "build_on_ray"]
