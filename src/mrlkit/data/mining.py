"""Add hard negatives to (anchor, positive) training rows with sentence-transformers' miner."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal, cast

from mrlkit.data.types import DataKind, HardNegativesMode, IRSet, NegativeLayout, TrainingData
from mrlkit.errors import DataError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

Pair = tuple[str, str]


def mine_negatives(
    data: TrainingData,
    model: SentenceTransformer,
    *,
    num_negatives: int = 1,
    range_min: int = 10,
    range_max: int = 50,
    relative_margin: float | None = 0.05,
    batch_size: int = 32,
    corpus: list[str] | None = None,
    layout: NegativeLayout | str = NegativeLayout.TRIPLET,
    mode: HardNegativesMode | str = HardNegativesMode.ADD,
) -> TrainingData:
    """Return a copy of ``data`` whose train rows gain a ``negative`` column mined with ``model``.

    Wraps :func:`sentence_transformers.mine_hard_negatives`: for each anchor, candidates ranked
    ``range_min`` to ``range_max`` by ``model`` that are not its positives and score at least
    ``relative_margin`` below the positive become negatives. With ``layout="triplet"`` each negative
    gets its own row (a ``negative`` column) and rows with none are dropped; with ``layout="n-tuple"``
    each pair keeps one row with columns ``negative_1`` .. ``negative_k`` and pairs with fewer than
    ``num_negatives`` negatives are dropped. Each distinct (anchor, positive) pair is mined once.

    Negatives the data already has are kept with ``mode="add"``: with triplets every user row stays and
    the mined rows are added (a pair without a mined negative keeps its own rows); with n-tuples each
    user row becomes ``anchor, positive, negative_1`` (its own) ``, negative_2 .. negative_{k+1}``
    (mined), and rows whose pair got too few mined negatives are dropped. ``mode="replace"`` trains on
    the mined negatives only. ``stats["mining"]`` counts pairs in, pairs mined, pairs dropped and user
    negatives replaced.

    Args:
        data: Retrieval training data (not scored pairs).
        model: Embedding model used to rank candidates.
        num_negatives: Negatives per (anchor, positive) pair.
        range_min: Skip this many top-ranked candidates (likely unlabelled positives).
        range_max: Consider candidates up to this rank.
        relative_margin: Keep a candidate only if its score is below ``positive - |positive| * margin``;
            ``None`` disables the check.
        batch_size: Encoding batch size.
        corpus: Candidate texts besides the train positives; defaults to the BEIR corpus for BEIR data.
        layout: ``"triplet"`` (one row per negative) or ``"n-tuple"`` (one row per pair).
        mode: ``"add"`` (keep the data's own negatives) or ``"replace"`` (mined negatives only).

    Returns:
        A new :class:`TrainingData`; ``stats["mining"]`` records the row and pair counts before and after.

    Raises:
        DataError: The data are scored pairs or have no rows, the ranges are inconsistent, or no row
            gets a negative.

    """
    from sentence_transformers import mine_hard_negatives

    _check_args(data, num_negatives, range_min, range_max)
    try:
        layout = NegativeLayout(layout)
    except ValueError:
        raise DataError(f"unknown negatives layout {layout!r}", fix="Use 'triplet' or 'n-tuple'") from None
    try:
        mode = HardNegativesMode(mode)
    except ValueError:
        raise DataError(f"unknown hard negatives mode {mode!r}", fix="Use 'add' or 'replace'") from None
    if corpus is None and data.kind == DataKind.BEIR:
        corpus = _beir_corpus(data)
    from datasets import Dataset

    unique = list(dict.fromkeys(zip(data.train["anchor"], data.train["positive"], strict=True)))
    pairs = Dataset.from_dict({"anchor": [a for a, _ in unique], "positive": [p for _, p in unique]})
    mined = mine_hard_negatives(
        pairs,
        model,
        anchor_column_name="anchor",
        positive_column_name="positive",
        corpus=corpus,
        range_min=range_min,
        range_max=range_max,
        relative_margin=relative_margin,
        num_negatives=num_negatives,
        sampling_strategy="top",
        output_format=cast(Literal["triplet", "n-tuple"], layout.value),
        batch_size=batch_size,
        verbose=False,
    )
    if len(mined) == 0:
        raise DataError(
            f"no candidate at ranks {range_min}..{range_max} scoring {relative_margin or 0:.0%} or more "
            f"below the positive qualified as a hard negative for any of the {len(pairs)} training pairs",
            path=data.source,
            fix="Lower --hard-negatives-margin or --hard-negatives-range, give a larger corpus, "
            "or train without --hard-negatives",
        )
    own = ["negative"] if "negative" in data.train.column_names else []  # the loader's one negative column
    train = mined
    if own and mode is HardNegativesMode.ADD:
        train = (
            _add_to_user_rows(data.train, mined)
            if layout is NegativeLayout.NTUPLE
            else _concat(data.train, mined)
        )
    kept = set(zip(train["anchor"], train["positive"], strict=True))
    stats = dict(data.stats)
    stats["mining"] = {
        "rows_before": len(data.train),
        "rows_after": len(train),
        "num_negatives": num_negatives,
        "layout": layout.value,
        "mode": mode.value,
        "pairs_in": len(unique),
        "pairs_mined": len(set(zip(mined["anchor"], mined["positive"], strict=True))),
        "pairs_dropped": len(unique) - len(kept),
        "user_negatives_replaced": len(data.train) * len(own) if mode is HardNegativesMode.REPLACE else 0,
    }
    stats["train_rows"] = len(train)
    return dataclasses.replace(data, train=train, stats=stats)


def _concat(user: Dataset, mined: Dataset) -> Dataset:
    """All the user's triplets, then the mined ones that are not already among them."""
    from datasets import Dataset

    columns = ["anchor", "positive", "negative"]
    rows = list(zip(*(user[c] for c in columns), strict=True))
    seen = set(rows)
    rows += [r for r in dict.fromkeys(zip(*(mined[c] for c in columns), strict=True)) if r not in seen]
    return Dataset.from_dict({c: [r[i] for r in rows] for i, c in enumerate(columns)})


def _add_to_user_rows(user: Dataset, mined: Dataset) -> Dataset:
    """One n-tuple per user row: its own negative first, then its pair's mined ones."""
    from datasets import Dataset

    extra = [c for c in mined.column_names if c.startswith("negative_")]
    found: dict[Pair, list[str]] = {
        (row["anchor"], row["positive"]): [row[c] for c in extra] for row in mined.to_list()
    }
    out: dict[str, list[str]] = {
        c: [] for c in ["anchor", "positive", *(f"negative_{i + 1}" for i in range(len(extra) + 1))]
    }
    for row in user.to_list():
        negatives = found.get((row["anchor"], row["positive"]))
        if negatives is None:
            continue
        for column, value in zip(
            out, [row["anchor"], row["positive"], row["negative"], *negatives], strict=True
        ):
            out[column].append(value)
    return Dataset.from_dict(out)


def _check_args(data: TrainingData, num_negatives: int, range_min: int, range_max: int) -> None:
    if data.kind == DataKind.SCORED or "positive" not in data.train.column_names:
        raise DataError(
            f"cannot mine negatives for {data.kind.value} data: it needs anchor and positive columns",
            path=data.source,
            fix="Mine negatives only for retrieval data (pairs, triplets, query-pos-neg, BEIR)",
        )
    if len(data.train) == 0:
        raise DataError("there are no training rows to mine negatives for", path=data.source)
    if num_negatives < 1 or range_min < 0 or range_max - range_min < num_negatives:
        raise DataError(
            f"cannot mine {num_negatives} negative(s) from ranks {range_min}..{range_max}",
            fix="Use num_negatives >= 1, range_min >= 0 and range_max - range_min >= num_negatives",
        )


def _beir_corpus(data: TrainingData) -> list[str] | None:
    for eval_set in (data.test, data.eval):
        if isinstance(eval_set, IRSet):
            return list(eval_set.corpus.values())
    return None
