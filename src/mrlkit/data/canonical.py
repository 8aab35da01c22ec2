"""Turn a validated file into canonical training columns, one layout per small function.

Canonical columns: pairs -> ``anchor, positive``; triplets and query-pos-neg -> ``anchor, positive,
negative`` (query-pos-neg without negatives -> pairs); scored -> ``sentence1, sentence2, score``.
Every frame also carries ``_line``, the source line of each row, for later messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mrlkit.data.checks import check_scores, check_text_column, check_text_value
from mrlkit.data.readers import RawTable, object_frame
from mrlkit.data.schema import Schema
from mrlkit.data.types import DataKind
from mrlkit.errors import DataError

LINE = "_line"


@dataclass
class Canonical:
    """Rows of one file in canonical columns.

    Attributes:
        kind: Layout of the file.
        frame: Canonical columns plus ``_line``.
        sources: canonical column -> column name in the file.
        extra_docs: Texts that belong in the retrieval corpus but are in no row (unused negatives).
        rows_read: Records read from the file.
        duplicates_removed: Exact duplicate rows dropped by :func:`drop_duplicates`.
        unused_negatives: Negatives listed in the file that no row trains on (query-pos-neg: a query's
            negatives beyond its number of positives, or every negative when some query has none).
        notes: Things the user should know about how the file was read.

    """

    kind: DataKind
    frame: pd.DataFrame
    sources: dict[str, str]
    extra_docs: list[str] = field(default_factory=list)
    rows_read: int = 0
    duplicates_removed: int = 0
    unused_negatives: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        """Canonical column names, without ``_line``."""
        return [c for c in self.frame.columns if c != LINE]


def canonicalize(table: RawTable, schema: Schema, score_range: tuple[float, float] | None) -> Canonical:
    """Validate every cell the layout uses and return the rows in canonical columns.

    Raises:
        DataError: On the first bad cell (missing, non-text, blank, bad score, bad list).

    """
    if schema.kind == DataKind.QUERY_POS_NEG:
        return _query_pos_neg(table, schema)
    if schema.kind == DataKind.SCORED:
        return _scored(table, schema, score_range)
    return _texts(table, schema)


def drop_duplicates(canonical: Canonical) -> Canonical:
    """Drop rows whose canonical columns repeat an earlier row; count them in ``duplicates_removed``."""
    duplicated = canonical.frame.duplicated(subset=canonical.columns, keep="first")
    removed = int(duplicated.sum())
    if removed:
        canonical.frame = canonical.frame.loc[~duplicated].reset_index(drop=True)
    canonical.duplicates_removed = removed
    return canonical


def _texts(table: RawTable, schema: Schema) -> Canonical:
    data: dict[str, object] = {}
    for role, column in schema.columns.items():
        check_text_column(table.frame[column], column, table.lines, table.path)
        data[role] = table.frame[column].to_numpy(dtype=object)
    data[LINE] = table.lines
    return Canonical(schema.kind, object_frame(data), dict(schema.columns), rows_read=len(table.frame))


def _scored(table: RawTable, schema: Schema, score_range: tuple[float, float] | None) -> Canonical:
    columns = schema.columns
    for role in ("sentence1", "sentence2"):
        check_text_column(table.frame[columns[role]], columns[role], table.lines, table.path)
    scores = check_scores(
        table.frame[columns["score"]], columns["score"], table.lines, table.path, score_range
    )
    frame = object_frame(
        {
            "sentence1": table.frame[columns["sentence1"]].to_numpy(dtype=object),
            "sentence2": table.frame[columns["sentence2"]].to_numpy(dtype=object),
            "score": scores,
            LINE: table.lines,
        }
    )
    return Canonical(DataKind.SCORED, frame, dict(columns), rows_read=len(table.frame))


def _query_pos_neg(table: RawTable, schema: Schema) -> Canonical:
    query_col, pos_col = schema.columns["query"], schema.columns["pos"]
    neg_col = schema.columns.get("neg")
    check_text_column(table.frame[query_col], query_col, table.lines, table.path)
    queries = table.frame[query_col].tolist()
    positives = table.frame[pos_col].tolist()
    negatives = table.frame[neg_col].tolist() if neg_col else [None] * len(queries)
    anchors: list[str] = []
    pos_out: list[str] = []
    neg_out: list[str | None] = []
    lines: list[int] = []
    all_negatives: dict[str, None] = {}
    missing_negatives = False
    listed = paired = 0  # negatives in the file, and those that get a row (one per positive, cycled)
    for query, pos, neg, line in zip(queries, positives, negatives, table.lines.tolist(), strict=True):
        pos_texts = _text_list(pos, pos_col, line, table, required=True)
        neg_texts = _text_list(neg, neg_col or "neg", line, table, required=False)
        missing_negatives = missing_negatives or not neg_texts
        listed += len(neg_texts)
        paired += min(len(neg_texts), len(pos_texts))
        all_negatives.update(dict.fromkeys(neg_texts))
        for i, text in enumerate(pos_texts):
            anchors.append(query)
            pos_out.append(text)
            neg_out.append(neg_texts[i % len(neg_texts)] if neg_texts else None)
            lines.append(line)
    data: dict[str, object] = {"anchor": anchors, "positive": pos_out}
    sources = {"anchor": query_col, "positive": pos_col}
    if not missing_negatives:
        data["negative"] = neg_out
        sources["negative"] = str(neg_col)
    data[LINE] = np.asarray(lines, dtype=np.int64)
    used = set(neg_out) if not missing_negatives else set()
    extra = [text for text in all_negatives if text not in used]
    canonical = Canonical(DataKind.QUERY_POS_NEG, object_frame(data), sources, extra, rows_read=len(queries))
    canonical.unused_negatives = listed - (0 if missing_negatives else paired)
    if missing_negatives and all_negatives:
        canonical.notes.append(
            f"some queries have no 'neg', so all {listed} negatives are left out of training (pairs); "
            "they stay in the eval corpus. Mine negatives for all rows with --hard-negatives"
        )
    elif canonical.unused_negatives:
        canonical.notes.append(
            f"{canonical.unused_negatives} negative(s) are not trained on: each row pairs one positive with "
            "one negative, so a query's negatives beyond its number of positives stay in the eval corpus only"
        )
    return canonical


def _text_list(value: object, column: str, line: int, table: RawTable, *, required: bool) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if required:
            raise DataError(
                f"missing value in column '{column}'", path=table.path, line=line, fix=_list_fix(column)
            )
        return []
    if not isinstance(value, list | tuple | np.ndarray):
        raise DataError(
            f"'{column}' must be a list of texts, got {type(value).__name__}",
            path=table.path,
            line=line,
            fix=_list_fix(column),
        )
    if required and len(value) == 0:
        raise DataError(f"'{column}' is an empty list", path=table.path, line=line, fix=_list_fix(column))
    return [check_text_value(v, f"{column}[{i}]", line, table.path) for i, v in enumerate(value)]


def _list_fix(column: str) -> str:
    return f'Write it as a list with at least one text, e.g. "{column}": ["a relevant passage"]'
