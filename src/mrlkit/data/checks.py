"""Vectorised checks of text and score cells; each error names the first bad line and the fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from mrlkit.errors import DataError


def first_true(mask: np.ndarray) -> int | None:
    """Return the index of the first ``True`` in ``mask``, or ``None``."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def check_text_column(series: pd.Series, column: str, lines: np.ndarray, path: Path) -> None:
    """Check that every cell of ``series`` is a non-blank string.

    Args:
        series: Cells of one column, in file order.
        column: Column name as in the file, shown in the message.
        lines: 1-based line of each cell.
        path: File named in the message.

    Raises:
        DataError: On the first missing, non-string or blank cell.

    """
    missing = series.isna().to_numpy(dtype=bool)
    if series.dtype == object:
        is_str = series.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    elif pd.api.types.is_string_dtype(series.dtype):
        is_str = ~missing
    else:  # a numeric, boolean or date column
        is_str = np.zeros(len(series), dtype=bool)
    blank = np.zeros(len(series), dtype=bool)
    blank[is_str] = [not v.strip() for v in series[is_str]]  # not .str: it builds Arrow arrays
    row = first_true(missing | ~is_str | blank)
    if row is None:
        return
    line = int(lines[row])
    if missing[row]:
        raise DataError(
            f"missing value in column '{column}'",
            path=path,
            line=line,
            fix="Fill in the text or delete the row",
        )
    if not is_str[row]:
        value = series.iloc[row]
        value = value.item() if isinstance(value, np.generic) else value
        raise DataError(
            f"column '{column}' holds {_short(value)} ({type(value).__name__}), not text",
            path=path,
            line=line,
            fix='Write the value as a string, e.g. "42" in JSON, or cast the column to string',
        )
    raise DataError(
        f"empty text in column '{column}'", path=path, line=line, fix="Fill in the text or delete the row"
    )


def check_text_value(value: object, label: str, line: int, path: Path) -> str:
    """Return ``value`` if it is a non-blank string; else raise naming ``label`` (e.g. ``pos[2]``)."""
    if not isinstance(value, str):
        raise DataError(
            f"{label} holds {_short(value)} ({type(value).__name__}), not text",
            path=path,
            line=line,
            fix="Every list item must be a text string",
        )
    if not value.strip():
        raise DataError(
            f"empty text in {label}", path=path, line=line, fix="Fill in the text or remove the item"
        )
    return value


def check_scores(
    series: pd.Series, column: str, lines: np.ndarray, path: Path, score_range: tuple[float, float] | None
) -> np.ndarray:
    """Parse a score column and rescale it from ``score_range`` to [0, 1].

    ``score_range=None`` (evaluation files, whose Spearman ignores the scale) takes [0, 1] when every
    score fits, else [min(0, lowest), highest] of the file.

    Raises:
        DataError: On the first score that is missing, NaN, not a number or out of range.

    """
    values = _to_float(series)
    bad = np.isnan(values)
    row = first_true(bad)
    if row is not None:
        raise _score_error(series.iloc[row], column, int(lines[row]), path)
    if score_range is None:
        score_range = (min(0.0, float(values.min())), max(1.0, float(values.max())))
    low, high = score_range
    outside = (values < low) | (values > high)
    row = first_true(outside)
    if row is not None:
        finite = values[np.isfinite(values)]
        hint = f"{math.floor(finite.min()):g},{math.ceil(finite.max()):g}" if len(finite) else "0,5"
        raise DataError(
            f"score {values[row]:g} in column '{column}' is outside the score range [{low:g}, {high:g}]",
            path=path,
            line=int(lines[row]),
            fix=f"Scores are rescaled from that range to [0, 1]; pass --score-range LO,HI "
            f"with your scale (e.g. --score-range {hint})",
        )
    return (values - low) / (high - low)


def _to_float(series: pd.Series) -> np.ndarray:
    if series.dtype == object:
        series = series.map(lambda v: None if isinstance(v, bool | list | dict) else v)
    numbers = pd.to_numeric(series, errors="coerce")
    return np.asarray(numbers, dtype=np.float64)


def _score_error(value: object, column: str, line: int, path: Path) -> DataError:
    fix = "Write a number, or delete the row"
    text = value.strip() if isinstance(value, str) else None
    if text is not None and text.lower() == "nan":
        return DataError(f"score in column '{column}' is NaN", path=path, line=line, fix=fix)
    if isinstance(value, float) and math.isnan(value):
        return DataError(f"score in column '{column}' is NaN or missing", path=path, line=line, fix=fix)
    if value is None or text == "":
        return DataError(f"missing score in column '{column}'", path=path, line=line, fix=fix)
    return DataError(
        f"score {_short(value)} in column '{column}' is not a number",
        path=path,
        line=line,
        fix=f"{fix}. If '{column}' is not a similarity score, pass --kind pairs "
        "or map the score with --columns score=YOUR_COLUMN",
    )


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
