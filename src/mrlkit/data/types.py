"""Typed containers shared by the data, training and evaluation stages."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from datasets import Dataset

# columns the trainers read as the label, never as text
LABEL_COLUMNS = ("score", "label")


def negative_columns(columns: Sequence[str]) -> list[str]:
    """The negative columns of a row layout: ``negative``, or ``negative_1``, ``negative_2``, ... in order."""
    if "negative" in columns:
        return ["negative"]
    numbered = [c for c in columns if re.fullmatch(r"negative_\d+", c)]
    return sorted(numbered, key=lambda c: int(c.split("_")[1]))


class DataKind(str, Enum):
    """Layouts of training data mrlkit understands."""

    PAIRS = "pairs"  # anchor, positive
    TRIPLETS = "triplets"  # anchor, positive, negative
    SCORED = "scored"  # sentence1, sentence2, score in [0, 1]
    QUERY_POS_NEG = "query-pos-neg"  # {query, pos: [...], neg: [...]}
    BEIR = "beir"  # corpus.jsonl, queries.jsonl, qrels/*.tsv


class NegativeLayout(str, Enum):
    """How mined negatives are laid out when there are several per pair."""

    TRIPLET = "triplet"  # one (anchor, positive, negative) row per negative
    NTUPLE = "n-tuple"  # one (anchor, positive, negative_1, ..., negative_k) row per pair


class HardNegativesMode(str, Enum):
    """What mining does with negatives the user's data already has."""

    ADD = "add"  # keep the user's negatives and add the mined ones
    REPLACE = "replace"  # drop the user's negatives; train on the mined ones only


@dataclass
class IRSet:
    """A retrieval evaluation set: query texts, corpus texts and the relevant doc ids per query."""

    queries: dict[str, str]
    corpus: dict[str, str]
    relevant: dict[str, set[str]]
    name: str = "ir"

    def __len__(self) -> int:
        return len(self.relevant)

    def subsample_corpus(self, size: int, seed: int = 42) -> IRSet:
        """A copy whose corpus keeps every relevant doc plus a seeded sample of the others, ``size`` in all.

        Relevant docs are never dropped, so the corpus can exceed ``size`` when they alone do.
        """
        if len(self.corpus) <= size:
            return self
        keep = {d for docs in self.relevant.values() for d in docs if d in self.corpus}
        others = sorted(set(self.corpus) - keep)
        extra = max(0, size - len(keep))
        keep |= set(random.Random(seed).sample(others, min(extra, len(others))))
        corpus = {d: t for d, t in self.corpus.items() if d in keep}
        return IRSet(queries=self.queries, corpus=corpus, relevant=self.relevant, name=self.name)


@dataclass
class STSSet:
    """A semantic-similarity evaluation set: sentence pairs with gold scores in [0, 1]."""

    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]
    name: str = "sts"

    def __len__(self) -> int:
        return len(self.scores)


EvalSet = IRSet | STSSet


@dataclass
class TrainingData:
    """Everything `mrlkit finetune` needs from the user's data.

    Attributes:
        kind: The layout that was detected.
        train: Training rows. Columns ``anchor, positive[, negative]`` for retrieval data or
            ``sentence1, sentence2, score`` for scored pairs (score in [0, 1]).
        eval: Set scored every epoch to pick the best checkpoint (dev qrels, or a split of train).
        test: Set the final report is computed on (test qrels, or a held-out split that shares no anchor
            with ``eval``); it *is* ``eval`` only when there is no test set (``test_fraction=0``), which
            ``stats["scored_on_selection_set"]`` then records.
        source: Path the data came from.
        stats: Counts shown by ``mrlkit data check`` (rows read, duplicates removed, ...).
    """

    kind: DataKind
    train: Dataset
    eval: EvalSet | None
    test: EvalSet | None
    source: str
    stats: dict[str, Any] = field(default_factory=dict)
