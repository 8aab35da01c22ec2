"""Fusion of several retrievers' result lists for one query: RRF and DBSF, each a small pure function."""

from mrlkit.search.fusion.dbsf import dbsf
from mrlkit.search.fusion.fuse import FusionMethod, fuse, fuse_batch
from mrlkit.search.fusion.rrf import rrf

__all__ = ["FusionMethod", "dbsf", "fuse", "fuse_batch", "rrf"]
