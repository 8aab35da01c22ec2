"""Data layer: read a user's retrieval or similarity data into training rows and evaluation sets.

Public API: :func:`load_data`, :func:`load_eval_set`, :func:`mine_negatives`, :func:`describe`.
"""

from __future__ import annotations

from mrlkit.data.describe import describe
from mrlkit.data.loader import load_data, load_eval_set
from mrlkit.data.mining import mine_negatives
from mrlkit.data.types import DataKind, EvalSet, IRSet, STSSet, TrainingData

__all__ = [
    "DataKind",
    "EvalSet",
    "IRSet",
    "STSSet",
    "TrainingData",
    "describe",
    "load_data",
    "load_eval_set",
    "mine_negatives",
]
