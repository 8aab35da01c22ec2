"""Which column plays which role: the user's ``columns`` mapping, alias lookup and layout detection.

A *role* is a canonical column name (``anchor``, ``positive``, ``negative``, ``sentence1``,
``sentence2``, ``score``, ``query``, ``pos``, ``neg``). Each layout needs a few roles; a role is
filled from the user's mapping if given, else from the first alias present in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mrlkit.data.types import DataKind
from mrlkit.errors import DataError

# role -> column names looked for in the file, in order of preference
ALIASES: dict[str, tuple[str, ...]] = {
    "anchor": ("anchor", "query", "question", "sentence1"),
    "positive": ("positive", "pos", "document", "passage", "answer", "sentence2"),
    "negative": ("negative", "neg", "hard_negative"),
    "sentence1": ("sentence1", "text1", "anchor"),
    "sentence2": ("sentence2", "text2", "positive"),
    "score": ("score", "label", "similarity"),
    "query": ("query", "anchor", "question"),
    "pos": ("pos",),
    "neg": ("neg",),
}
# role -> keys of the user's mapping that can fill it, in order of preference
MAPPING_KEYS: dict[str, tuple[str, ...]] = {
    "anchor": ("anchor", "query", "sentence1"),
    "positive": ("positive", "pos", "sentence2"),
    "negative": ("negative", "neg"),
    "sentence1": ("sentence1", "anchor", "query"),
    "sentence2": ("sentence2", "positive"),
    "score": ("score",),
    "query": ("query", "anchor"),
    "pos": ("pos", "positive"),
    "neg": ("neg", "negative"),
}
REQUIRED: dict[DataKind, tuple[str, ...]] = {
    DataKind.PAIRS: ("anchor", "positive"),
    DataKind.TRIPLETS: ("anchor", "positive", "negative"),
    DataKind.SCORED: ("sentence1", "sentence2", "score"),
    DataKind.QUERY_POS_NEG: ("query", "pos"),
}
OPTIONAL: dict[DataKind, tuple[str, ...]] = {DataKind.QUERY_POS_NEG: ("neg",)}
TEXT_ROLES = ("anchor", "positive", "negative", "sentence1", "sentence2", "query")


@dataclass(frozen=True)
class Schema:
    """The detected layout and the file column that fills each of its roles.

    Attributes:
        kind: Layout of the file.
        columns: role -> column name in the file (only roles present).

    """

    kind: DataKind
    columns: dict[str, str]


def parse_kind(kind: DataKind | str | None) -> DataKind | None:
    """Turn ``kind`` into a :class:`DataKind` (``None`` means detect).

    Raises:
        DataError: The string names no layout.

    """
    if kind is None or isinstance(kind, DataKind):
        return kind
    try:
        return DataKind(str(kind).strip().lower().replace("_", "-"))
    except ValueError:
        choices = ", ".join(k.value for k in DataKind)
        raise DataError(f"unknown data kind '{kind}'", fix=f"Choose one of: {choices}") from None


def check_mapping(
    columns: Mapping[str, str] | None, frame: pd.DataFrame, path: str | Path | None
) -> dict[str, str]:
    """Validate the user's ``role -> column`` mapping against the file's columns.

    Raises:
        DataError: A role is unknown or a column is not in the file.

    """
    if not columns:
        return {}
    found = _found(frame)
    for role, column in columns.items():
        if role not in MAPPING_KEYS:
            raise DataError(
                f"unknown column role '{role}' in the columns mapping",
                path=path,
                fix=f"Use roles from: {', '.join(MAPPING_KEYS)}",
            )
        if column not in frame.columns:
            raise DataError(
                f"the columns mapping names column '{column}' (for {role}), but the file has no such column; "
                f"columns found: {found}",
                path=path,
                fix=f"Pass --columns {role}=ONE_OF_THE_COLUMNS_FOUND",
            )
    return dict(columns)


def resolve_schema(
    frame: pd.DataFrame, mapping: Mapping[str, str], kind: DataKind | None, path: str | Path | None
) -> Schema:
    """Detect the layout (unless ``kind`` is given) and find the column for each of its roles.

    Args:
        frame: The file's rows.
        mapping: Validated ``role -> column`` mapping from :func:`check_mapping`.
        kind: Layout forced by the user, or ``None`` to detect.
        path: File named in error messages.

    Raises:
        DataError: A required column is missing.

    """
    if kind is None:
        kind = detect_kind(frame, mapping)
    if kind not in REQUIRED:
        raise DataError(
            f"kind '{kind.value}' needs a folder, not a file", path=path, fix="Pass a BEIR folder"
        )
    taken = set(mapping.values())
    resolved: dict[str, str] = {}
    for role in REQUIRED[kind] + OPTIONAL.get(kind, ()):
        column = _find(frame, role, mapping, taken)
        if column is None:
            if role in REQUIRED[kind]:
                raise _missing(role, kind, frame, path)
            continue
        resolved[role] = column
        taken.add(column)
    return Schema(kind, resolved)


def detect_kind(frame: pd.DataFrame, mapping: Mapping[str, str]) -> DataKind:
    """Guess the layout from the columns present.

    A list ``pos`` column means query-pos-neg; a score column scored; a negative column triplets;
    anything else pairs.
    """
    taken = set(mapping.values())
    pos = _find(frame, "pos", mapping, taken)
    if pos is not None and _holds_lists(frame[pos]):
        return DataKind.QUERY_POS_NEG
    if _find(frame, "score", mapping, taken) is not None:
        return DataKind.SCORED
    if _find(frame, "negative", mapping, taken) is not None:
        return DataKind.TRIPLETS
    return DataKind.PAIRS


def _find(frame: pd.DataFrame, role: str, mapping: Mapping[str, str], taken: set[str]) -> str | None:
    for key in MAPPING_KEYS[role]:
        if key in mapping:
            return mapping[key]
    for alias in ALIASES[role]:
        if alias in frame.columns and alias not in taken:
            return alias
    return None


def _holds_lists(series: pd.Series) -> bool:
    values = series.dropna()
    return bool(len(values)) and isinstance(values.iloc[0], list | tuple | np.ndarray)


def _found(frame: pd.DataFrame) -> str:
    return ", ".join(str(c) for c in frame.columns) or "(none)"


def _missing(role: str, kind: DataKind, frame: pd.DataFrame, path: str | Path | None) -> DataError:
    return DataError(
        f"missing required column '{role}' for {kind.value} data (looked for: {', '.join(ALIASES[role])}); "
        f"columns found: {_found(frame)}",
        path=path,
        fix=f"Pass --columns {role}=YOUR_COLUMN (columns={{'{role}': 'YOUR_COLUMN'}} in Python)",
    )
