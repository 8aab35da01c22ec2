"""Entry points: load a data file or BEIR folder for fine-tuning (:func:`load_data`) or evaluation."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset

from mrlkit.data.beir import load_beir, load_beir_eval, looks_like_beir
from mrlkit.data.canonical import Canonical, canonicalize, drop_duplicates
from mrlkit.data.readers import ACCEPTED, read_table
from mrlkit.data.schema import check_mapping, parse_kind, resolve_schema
from mrlkit.data.splits import (
    check_fraction,
    check_test_fraction,
    corpus_of,
    ir_set,
    set_sizes,
    split_keys,
    sts_set,
)
from mrlkit.data.types import DataKind, EvalSet, IRSet, STSSet, TrainingData
from mrlkit.errors import DataError


def load_data(
    path: str | Path,
    *,
    kind: DataKind | str | None = None,
    columns: dict[str, str] | None = None,
    eval_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 42,
    dedupe: bool = True,
    score_range: tuple[float, float] = (0.0, 1.0),
    max_rows: int | None = None,
    split: bool = True,
) -> TrainingData:
    """Load training data and its evaluation sets from a file or a BEIR folder.

    Args:
        path: A ``.jsonl``/``.json`` (JSON Lines), ``.csv``, ``.tsv`` or ``.parquet`` file, or a BEIR folder.
        kind: Layout to use instead of detecting it from the column names.
        columns: Map of canonical role to the file's column, e.g. ``{"anchor": "question"}``.
        eval_fraction: Share of anchors (BEIR: train queries, when there is no dev qrels) held out as the
            dev set, which picks the best checkpoint.
        test_fraction: Share of anchors (BEIR: train queries, when there is no test qrels) held out as the
            test set the report scores; 0: none, and ``test`` is the dev set (``stats`` then says
            ``scored_on_selection_set``).
        seed: Seed of the deterministic, hash-based split.
        dedupe: Drop exact duplicate rows (counted in ``stats["duplicates_removed"]``).
        score_range: Scale of the scores in a scored file; they are rescaled to [0, 1].
        max_rows: Read at most this many records (BEIR: train pairs).
        split: Hold out dev and test sets. ``False`` (the caller has its own dev set) trains on every row
            and leaves ``eval`` unset, and ``test`` too unless a BEIR folder has test qrels.

    Returns:
        The training rows in canonical columns, the eval and test sets, and counts in ``stats``.

    Raises:
        DataError: The path, an argument or any row is invalid; the message names the file, line and fix.

    """
    fraction = check_fraction(eval_fraction)
    test_share = check_test_fraction(test_fraction, fraction)
    score_range = _check_score_range(score_range)
    _check_max_rows(max_rows)
    data_kind = parse_kind(kind)
    source = _existing(path)
    if source.is_dir():
        _check_beir(source, data_kind)
        return load_beir(
            source,
            eval_fraction=fraction if split else None,
            test_fraction=test_share if split else 0.0,
            seed=seed,
            dedupe=dedupe,
            max_rows=max_rows,
        )
    canonical, columns_found = _read(source, data_kind, columns, score_range, max_rows)
    rows = len(canonical.frame)  # query-pos-neg: one row per positive
    if dedupe:
        drop_duplicates(canonical)
    scored = canonical.kind == DataKind.SCORED
    key, noun = ("sentence1", "sentence1 values") if scored else ("anchor", "anchors")
    held = np.zeros(len(canonical.frame), dtype=bool)
    tested = held.copy()
    eval_set: EvalSet | None = None
    test_set: EvalSet | None = None
    if split:
        dev_keys, test_keys = split_keys(
            canonical.frame[key].tolist(), fraction, test_share, seed, source, noun
        )
        held = canonical.frame[key].isin(dev_keys).to_numpy(dtype=bool)
        tested = canonical.frame[key].isin(test_keys).to_numpy(dtype=bool)
        eval_set = _eval_set(canonical, held, f"{source.stem}-eval")
        test_set = _eval_set(canonical, tested, f"{source.stem}-test") if test_keys else eval_set
    train_frame = canonical.frame.loc[~(held | tested)]
    train = Dataset.from_dict({c: train_frame[c].tolist() for c in canonical.columns})
    stats: dict[str, Any] = {
        "kind": canonical.kind.value,
        "source": str(source),
        "rows_read": canonical.rows_read,
        "rows": rows,
        "duplicates_removed": canonical.duplicates_removed,
        "train_rows": len(train),
        "eval_rows": int(held.sum()),
        "test_rows": int(tested.sum()),
        "unused_negatives": canonical.unused_negatives,
        "max_rows": max_rows,
        "columns": dict(canonical.sources),
        "columns_found": columns_found,
        "eval_source": f"split: {fraction:g} of the {noun}, seed {seed}" if split else "none (no split)",
        "test_source": _test_source(split, test_set is not eval_set, test_share, noun, seed),
        "scored_on_selection_set": test_set is not None and test_set is eval_set,
        "eval": set_sizes(eval_set),
        "test": set_sizes(test_set),
        "notes": list(canonical.notes),
    }
    return TrainingData(canonical.kind, train, eval_set, test_set, str(source), stats)


def _test_source(split: bool, separate: bool, test_fraction: float, noun: str, seed: int) -> str:
    if not split:
        return "none"
    return f"split: {test_fraction:g} of the {noun}, seed {seed}" if separate else "same as eval"


def load_eval_set(
    path: str | Path,
    *,
    kind: DataKind | str | None = None,
    columns: dict[str, str] | None = None,
    score_range: tuple[float, float] | None = (0.0, 1.0),
    split: str = "test",
) -> IRSet | STSSet:
    """Load a whole file, or one qrels split of a BEIR folder, as an evaluation set.

    For a file, every anchor becomes a query and every positive and negative text a corpus doc
    (a scored file becomes an :class:`STSSet`). ``split`` only applies to BEIR folders.

    Args:
        path: A data file or a BEIR folder (``qrels/train.tsv`` not needed).
        kind: Layout to use instead of detecting it.
        columns: Map of canonical role to the file's column.
        score_range: Scale of the scores in a scored file (``None``: read from the file; Spearman
            does not depend on it).
        split: BEIR qrels file to use: ``qrels/{split}.tsv``.

    Raises:
        DataError: The path, an argument or any row is invalid.

    """
    score_range = None if score_range is None else _check_score_range(score_range)
    data_kind = parse_kind(kind)
    source = _existing(path)
    if source.is_dir():
        _check_beir(source, data_kind)
        return load_beir_eval(source, split)
    canonical, _ = _read(source, data_kind, columns, score_range, None)
    drop_duplicates(canonical)
    return _eval_set(canonical, np.ones(len(canonical.frame), dtype=bool), source.stem)


def _read(
    source: Path,
    kind: DataKind | None,
    columns: dict[str, str] | None,
    score_range: tuple[float, float] | None,
    max_rows: int | None,
) -> tuple[Canonical, list[str]]:
    table = read_table(source, max_rows=max_rows)
    mapping = check_mapping(columns, table.frame, source)
    schema = resolve_schema(table.frame, mapping, kind, source)
    return canonicalize(table, schema, score_range), [str(c) for c in table.frame.columns]


def _eval_set(canonical: Canonical, held: np.ndarray, name: str) -> EvalSet:
    frame = canonical.frame
    if canonical.kind == DataKind.SCORED:
        return sts_set(frame.loc[held], name)
    texts = [frame["positive"].tolist()]
    if "negative" in frame.columns:
        texts.append(frame["negative"].tolist())
    doc_ids = corpus_of(itertools.chain(*texts, canonical.extra_docs))
    return ir_set(frame.loc[held], doc_ids, name)


def _existing(path: str | Path) -> Path:
    source = Path(path).expanduser()
    if not source.exists():
        raise DataError("no such file or folder", path=source, fix="Check the path")
    return source


def _check_beir(source: Path, kind: DataKind | None) -> None:
    if kind not in (None, DataKind.BEIR):
        raise DataError(
            f"kind '{kind.value}' needs a file, but this is a folder",
            path=source,
            fix="Pass the data file itself",
        )
    if not looks_like_beir(source):
        raise DataError(
            "this folder is not a BEIR dataset (no corpus.jsonl, queries.jsonl or qrels/)",
            path=source,
            fix=f"Pass a data file ({ACCEPTED}) or a BEIR folder with corpus.jsonl, queries.jsonl and qrels/",
        )


def _check_score_range(score_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in score_range)
    except (TypeError, ValueError):
        low, high = math.nan, math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise DataError(
            f"score_range must be two numbers LO < HI, got {score_range!r}", fix="Pass e.g. --score-range 0,5"
        )
    return low, high


def _check_max_rows(max_rows: int | None) -> None:
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1):
        raise DataError(
            f"max_rows must be a positive integer, got {max_rows!r}", fix="Pass e.g. --max-rows 10000"
        )
