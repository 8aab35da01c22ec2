"""Matryoshka search: an on-disk index, funnel retrieval over quantised shortlists, HNSW, k' tuning.

The names a user types::

    from mrlkit.search import Index, IndexConfig, Quantization, SearchMode, tune_index

Names are imported on first use. faiss (and usearch for its HNSW backend) come with
``pip install "mrlkit[search]"``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "FullDtype": "mrlkit.search.config",
    "Hit": "mrlkit.search.index",
    "HnswBackend": "mrlkit.search.config",
    "Index": "mrlkit.search.index",
    "IndexConfig": "mrlkit.search.config",
    "Quantization": "mrlkit.search.config",
    "SearchMode": "mrlkit.search.config",
    "tune_index": "mrlkit.search.tune",
}
__all__ = [
    "FullDtype",
    "Hit",
    "HnswBackend",
    "Index",
    "IndexConfig",
    "Quantization",
    "SearchMode",
    "tune_index",
]

if TYPE_CHECKING:
    from mrlkit.search.config import FullDtype, HnswBackend, IndexConfig, Quantization, SearchMode
    from mrlkit.search.index import Hit, Index
    from mrlkit.search.tune import tune_index


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mrlkit.search' has no attribute {name!r}")
