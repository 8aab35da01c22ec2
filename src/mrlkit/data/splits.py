"""Deterministic train/eval split by anchor, and the evaluation sets built from a single file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mrlkit.data.types import IRSet, STSSet
from mrlkit.errors import DataError

_SCALE = float(2**64)
MIN_HELD_OUT = 2  # keys on each of dev and test in a three-way split (a correlation needs two pairs)
_SINGULAR = {"anchors": "anchor", "sentence1 values": "sentence1 value", "train queries": "train query"}


def check_fraction(eval_fraction: float) -> float:
    """Return ``eval_fraction`` as a float if it lies strictly between 0 and 1.

    Raises:
        DataError: It does not.

    """
    try:
        value = float(eval_fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise DataError(
            f"eval_fraction must be between 0 and 1 (exclusive), got {eval_fraction!r}",
            fix="Pass e.g. --eval-fraction 0.1 to hold out 10% of the anchors",
        )
    return value


def key_fraction(key: str, seed: int) -> float:
    """Map ``key`` and ``seed`` to a stable number in [0, 1) (same on every machine and run)."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def eval_keys(keys: Iterable[str], eval_fraction: float, seed: int, path: str | Path) -> set[str]:
    """Pick the keys (anchors or query ids) that go to the eval side.

    Each key goes to eval when its hash is below ``eval_fraction``. At least two keys land on the eval
    side when there are four or more (a correlation needs two pairs), and at least one on each side.

    Raises:
        DataError: Fewer than two distinct keys.

    """
    unique = list(dict.fromkeys(keys))
    if len(unique) < 2:
        raise DataError(
            f"found {len(unique)} distinct anchor(s); cannot split into train and eval",
            path=path,
            fix="Add rows with at least two different anchors (queries)",
        )
    hashes = np.fromiter((key_fraction(k, seed) for k in unique), dtype=np.float64, count=len(unique))
    chosen = hashes < eval_fraction
    min_eval = 2 if len(unique) >= 4 else 1
    if chosen.sum() < min_eval:
        chosen[np.argsort(hashes)[:min_eval]] = True
    if chosen.all():
        chosen[int(np.argmax(hashes))] = False
    return {k for k, c in zip(unique, chosen, strict=True) if c}


def check_test_fraction(test_fraction: float, eval_fraction: float) -> float:
    """Return ``test_fraction`` as a float if it lies in [0, 1) and leaves room for training rows.

    Raises:
        DataError: It does not.

    """
    try:
        value = float(test_fraction)
    except (TypeError, ValueError):
        value = float("nan")
    if not (0.0 <= value < 1.0 and value + eval_fraction < 1.0):
        raise DataError(
            f"test_fraction must be in [0, 1) with eval_fraction + test_fraction < 1, got {test_fraction!r} "
            f"(eval_fraction {eval_fraction:g})",
            fix="Pass e.g. --test-fraction 0.1 to hold out 10% of the anchors for the report "
            "(0: no test split, the report scores the dev set)",
        )
    return value


def split_keys(
    keys: Iterable[str], eval_fraction: float, test_fraction: float, seed: int, path: str | Path, noun: str
) -> tuple[set[str], set[str]]:
    """Pick the keys that go to dev (checkpoint selection) and to test (the report); the rest train.

    A key goes to dev when its hash (:func:`key_fraction`) is below ``eval_fraction`` and to test when
    it lies in ``[eval_fraction, eval_fraction + test_fraction)``, so adding rows never moves an existing
    key. Dev and test get at least two keys each (the next keys in hash order) and train at least one.
    ``test_fraction == 0`` gives the two-way split of :func:`eval_keys` and an empty test side.

    Args:
        keys: One key per row (anchors, first sentences or query ids); repeats are one key.
        eval_fraction: Share of keys for dev.
        test_fraction: Share of keys for test (0: none).
        seed: Seed of the hash.
        path: Data file named in the error.
        noun: What a key is, for the error (``"anchors"``, ``"train queries"``).

    Returns:
        ``(dev_keys, test_keys)``, disjoint.

    Raises:
        DataError: Too few distinct keys to give dev and test two each and train one.

    """
    if test_fraction == 0:
        return eval_keys(keys, eval_fraction, seed, path), set()
    unique = list(dict.fromkeys(keys))
    if len(unique) < 2 * MIN_HELD_OUT + 1:
        raise DataError(
            f"found {len(unique)} distinct {noun if len(unique) != 1 else _SINGULAR.get(noun, noun)}; "
            f"a train/dev/test split needs at least "
            f"{2 * MIN_HELD_OUT + 1} ({MIN_HELD_OUT} for dev, {MIN_HELD_OUT} for test, 1 to train)",
            path=path,
            fix="Pass --eval-data and --test-data, add rows with more distinct "
            f"{noun}, or pass --test-fraction 0 to score the report on the dev set",
        )
    hashes = np.fromiter((key_fraction(k, seed) for k in unique), dtype=np.float64, count=len(unique))
    order = np.argsort(hashes, kind="stable")
    n_dev = max(MIN_HELD_OUT, int((hashes < eval_fraction).sum()))
    n_dev = min(n_dev, len(unique) - 1 - MIN_HELD_OUT)  # large fractions on few keys: test and train too
    n_test = max(MIN_HELD_OUT, int((hashes < eval_fraction + test_fraction).sum()) - n_dev)
    n_test = min(n_test, len(unique) - 1 - n_dev)
    dev = {unique[i] for i in order[:n_dev]}
    test = {unique[i] for i in order[n_dev : n_dev + n_test]}
    return dev, test


def corpus_of(texts: Iterable[str]) -> dict[str, str]:
    """Give each distinct text an id ``d0, d1, ...`` in order of first appearance; returns text -> id."""
    return {text: f"d{i}" for i, text in enumerate(dict.fromkeys(texts))}


def ir_set(frame: pd.DataFrame, doc_ids: dict[str, str], name: str) -> IRSet:
    """Build an :class:`IRSet` whose queries are the anchors of ``frame`` and relevant docs their positives.

    Args:
        frame: Rows with ``anchor`` and ``positive`` columns.
        doc_ids: text -> doc id for the whole corpus (from :func:`corpus_of`).
        name: Name of the set.

    """
    query_ids: dict[str, str] = {}
    relevant: dict[str, set[str]] = {}
    for anchor, positive in zip(frame["anchor"].tolist(), frame["positive"].tolist(), strict=True):
        qid = query_ids.setdefault(anchor, f"q{len(query_ids)}")
        relevant.setdefault(qid, set()).add(doc_ids[positive])
    queries = {qid: anchor for anchor, qid in query_ids.items()}
    corpus = {doc_id: text for text, doc_id in doc_ids.items()}
    return IRSet(queries=queries, corpus=corpus, relevant=relevant, name=name)


def sts_set(frame: pd.DataFrame, name: str) -> STSSet:
    """Build an :class:`STSSet` from rows with ``sentence1, sentence2, score`` (score in [0, 1])."""
    return STSSet(
        sentences1=frame["sentence1"].tolist(),
        sentences2=frame["sentence2"].tolist(),
        scores=[float(s) for s in frame["score"].tolist()],
        name=name,
    )


def set_sizes(eval_set: IRSet | STSSet | None) -> dict[str, int]:
    """Count what an evaluation set holds: queries, corpus docs and judgments, or pairs."""
    if eval_set is None:
        return {}
    if isinstance(eval_set, IRSet):
        return {
            "queries": len(eval_set.relevant),
            "corpus": len(eval_set.corpus),
            "judgments": sum(len(docs) for docs in eval_set.relevant.values()),
        }
    return {"pairs": len(eval_set)}
