"""Helpers shared by the fusion functions: rank order, weight checks, sorting."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

from mrlkit.errors import ConfigError

K = TypeVar("K", bound=Hashable)


def ranked(run: Mapping[K, float]) -> list[K]:
    """Document ids of one run, best score first (ties keep the run's own order)."""
    return sorted(run, key=lambda doc: -run[doc])


def sort_scores(scores: dict[K, float]) -> dict[K, float]:
    """The same mapping, best score first (ties keep first-seen order)."""
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


def check_weights(weights: Sequence[float] | None, runs: int) -> list[float]:
    """Return one weight per run, checking count and sign.

    Raises:
        ConfigError: Wrong number of weights, a negative weight, or all weights zero.
    """
    if weights is None:
        return [1.0] * runs
    ws = [float(w) for w in weights]
    if len(ws) != runs:
        raise ConfigError(f"fusion got {len(ws)} weight(s) {ws} for {runs} result list(s); give one per list")
    if any(w < 0 for w in ws) or (ws and not any(ws)):
        raise ConfigError(f"fusion weights must be >= 0 and not all 0, got {ws}")
    return ws
