"""mrlkit: Matryoshka fine-tuning of embedding models on your own retrieval data.

The names a user types::

    from mrlkit import FinetuneConfig, finetune, evaluate, load_data, load_model, Index

Names are imported on first use, so ``import mrlkit`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "FinetuneConfig": "mrlkit.config",
    "Index": "mrlkit.search",
    "Report": "mrlkit.evaluation",
    "evaluate": "mrlkit.api",
    "finetune": "mrlkit.training",
    "load_data": "mrlkit.data",
    "load_model": "mrlkit.models",
    "quickstart": "mrlkit.api",
    "resolve_model": "mrlkit.models",
}
__all__ = [
    "FinetuneConfig",
    "Index",
    "Report",
    "evaluate",
    "finetune",
    "load_data",
    "load_model",
    "quickstart",
    "resolve_model",
]

if TYPE_CHECKING:
    from mrlkit.api import evaluate, quickstart
    from mrlkit.config import FinetuneConfig
    from mrlkit.data import load_data
    from mrlkit.evaluation import Report
    from mrlkit.models import load_model, resolve_model
    from mrlkit.search import Index
    from mrlkit.training import finetune


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'mrlkit' has no attribute {name!r}")
