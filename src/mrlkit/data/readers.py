"""Read a data file (JSON Lines, CSV, TSV, Parquet) into a DataFrame that remembers each row's line.

Readers only parse; they do not know about columns or layouts (see :mod:`mrlkit.data.schema`).
JSON Lines is streamed line by line; CSV, TSV and Parquet go through pandas. Text columns hold Python
``str`` objects (see :func:`object_frame`).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from mrlkit.errors import DataError

# file suffix -> format name; ``.gz`` may follow the text formats
FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
ACCEPTED = ", ".join(FORMATS)
JSONL_FIX = (
    'Write one JSON object per line, e.g. {"anchor": "a question", "positive": "its answer"}; '
    "convert a JSON array with: jq -c '.[]' in.json > out.jsonl"
)
_PANDAS_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


@dataclass
class RawTable:
    """Rows of one data file before any column is interpreted.

    Attributes:
        frame: One row per record, columns as named in the file.
        path: The file read.
        format: ``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"parquet"``.
        lines: 1-based line (row for Parquet) of each record, used in error messages.

    """

    frame: pd.DataFrame
    path: Path
    format: str
    lines: np.ndarray


def object_frame(columns: Mapping[str, Any]) -> pd.DataFrame:
    """A DataFrame whose text columns keep Python ``str`` objects; numeric arrays keep their dtype.

    pandas 3 would store the texts in Arrow arrays, whose allocator keeps about 10 MB reserved in the
    process for good (measured on a 256-pair file); these frames only check and split rows on their way
    to a ``datasets.Dataset``, so plain objects cost nothing and leave that memory to training.
    """
    return pd.DataFrame(
        {
            name: values
            if isinstance(values, np.ndarray) and values.dtype != object
            else pd.Series(values, dtype=object)
            for name, values in columns.items()
        }
    )


def file_format(path: Path) -> str:
    """Return the format name for ``path`` from its suffix (``.gz`` allowed for text formats).

    Raises:
        DataError: The extension is not one mrlkit reads.

    """
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None and suffixes[-1:] == [".data"] and _tab_separated(path):
        return "tsv"  # SentEval / text2vec STS files, e.g. Chinese STS-B's STS-B.test.data
    if fmt is None or (fmt == "parquet" and path.suffix.lower() == ".gz"):
        raise DataError(
            f"unsupported file extension '{''.join(path.suffixes) or '(none)'}'",
            path=path,
            fix=f"mrlkit reads {ACCEPTED} files or a BEIR folder; rename or convert the file "
            "(tab-separated text -> .tsv)",
        )
    return fmt


def _tab_separated(path: Path) -> bool:
    """Whether the first line of a file with an unknown extension is UTF-8 text holding a tab."""
    try:
        with open_text(path) as handle:
            return "\t" in handle.readline()
    except (OSError, UnicodeDecodeError):
        return False


def _looks_like_a_score(cell: object) -> bool:
    try:
        float(str(cell))
    except ValueError:
        return False
    return True


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file, transparently decompressing ``.gz``."""
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def iter_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSON Lines file.

    Raises:
        DataError: A line is not valid JSON or not a JSON object.

    """
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"invalid JSON ({exc.msg} at column {exc.colno})", path=path, line=number, fix=JSONL_FIX
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"the line holds a JSON {_json_type(record)}, not an object",
                    path=path,
                    line=number,
                    fix=JSONL_FIX,
                )
            yield number, record


def read_table(path: Path, *, max_rows: int | None = None) -> RawTable:
    """Read a data file into a :class:`RawTable`.

    Args:
        path: An existing file with one of the accepted extensions.
        max_rows: Read at most this many records (``None`` reads all).

    Raises:
        DataError: Unknown extension, unreadable or empty file, bad JSON line, ragged CSV row.

    """
    fmt = file_format(path)
    try:
        if fmt == "jsonl":
            table = _read_jsonl(path, max_rows)
        elif fmt == "parquet":
            table = _read_parquet(path, max_rows)
        else:
            table = _read_delimited(path, fmt, max_rows)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"the file is not UTF-8 text (byte {exc.start})", path=path, fix="Save it as UTF-8"
        ) from None
    if len(table.frame) == 0:
        raise DataError("the file has no rows", path=path, fix="Add at least a few example rows")
    return table


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return names.get(type(value), "null" if value is None else type(value).__name__)


def _read_jsonl(path: Path, max_rows: int | None) -> RawTable:
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    for number, record in iter_json_lines(path):
        if max_rows is not None and len(records) >= max_rows:
            break
        records.append(record)
        lines.append(number)
    if not records:
        raise DataError("the file is empty", path=path, fix=JSONL_FIX)
    frame = pd.DataFrame(records, dtype=object)  # Python objects, not Arrow strings: see object_frame
    return RawTable(frame, path, "jsonl", np.asarray(lines, dtype=np.int64))


def _read_delimited(path: Path, fmt: str, max_rows: int | None) -> RawTable:
    options: dict[str, Any] = {"sep": ","}
    if fmt == "tsv":
        options = {"sep": "\t", "quoting": csv.QUOTE_NONE}
    try:
        frame = pd.read_csv(path, dtype=object, keep_default_na=False, nrows=max_rows, **options)
    except pd.errors.EmptyDataError:
        raise DataError(
            "the file is empty", path=path, fix="Add a header line and at least one row"
        ) from None
    except pd.errors.ParserError as exc:
        raise _ragged_error(path, fmt, str(exc)) from None
    header = [str(c) for c in frame.columns]
    if len(header) == 3 and _looks_like_a_score(header[2]) and not _looks_like_a_score(header[0]):
        # no header line: text, text, number (STS-B style) -> sentence1, sentence2, score from line 1
        frame = pd.read_csv(path, dtype=object, keep_default_na=False, nrows=max_rows, header=None, **options)
        frame.columns = ["sentence1", "sentence2", "score"]
        return RawTable(frame, path, fmt, np.arange(1, len(frame) + 1, dtype=np.int64))
    if len(frame) == 0:
        raise DataError("the file has a header but no rows", path=path, fix="Add at least one row")
    if frame.iloc[:, -1].eq("").any():  # pandas pads short rows with "": count their fields
        _check_short_rows(path, fmt, options, len(frame.columns))
    return RawTable(frame, path, fmt, np.arange(2, len(frame) + 2, dtype=np.int64))


def _check_short_rows(path: Path, fmt: str, options: dict[str, Any], n_fields: int) -> None:
    dialect = {"delimiter": options["sep"], "quoting": options.get("quoting", csv.QUOTE_MINIMAL)}
    with open_text(path) as handle:
        reader = csv.reader(handle, **dialect)
        try:
            next(reader, None)
            for record in reader:
                if record and len(record) < n_fields:
                    raise DataError(
                        f"the row has {len(record)} fields but the header has {n_fields}",
                        path=path,
                        line=reader.line_num,
                        fix=_ragged_fix(fmt),
                    )
        except csv.Error:  # e.g. a field over csv's size limit: pandas read it, so skip this check
            return


def _ragged_error(path: Path, fmt: str, message: str) -> DataError:
    match = _PANDAS_FIELDS.search(message)
    if match is None:
        return DataError(f"cannot parse the file ({message.strip()})", path=path, fix=_ragged_fix(fmt))
    expected, line, saw = (int(g) for g in match.groups())
    return DataError(
        f"the row has {saw} fields but the header has {expected}", path=path, line=line, fix=_ragged_fix(fmt)
    )


def _ragged_fix(fmt: str) -> str:
    if fmt == "tsv":
        return "Every row needs one value per header column, separated by tabs; remove stray tabs from texts"
    return (
        'Every row needs one value per header column; wrap texts that contain commas in double quotes ("...")'
    )


def _read_parquet(path: Path, max_rows: int | None) -> RawTable:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"cannot read the Parquet file ({exc})", path=path, fix="Check that it is Parquet"
        ) from None
    if len(frame) == 0:
        raise DataError("the Parquet file has no rows", path=path, fix="Write at least one row to it")
    if max_rows is not None:
        frame = frame.head(max_rows)
    frame = frame.reset_index(drop=True)
    return RawTable(frame, path, "parquet", np.arange(1, len(frame) + 1, dtype=np.int64))
