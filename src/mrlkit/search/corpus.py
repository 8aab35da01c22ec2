"""Read a corpus to index as a stream of ``(id, text)`` rows, checking every row first.

Sources: a list of ``(id, text)`` pairs (or a dict id -> text); a JSONL / CSV / TSV / Parquet file
(``.gz`` allowed for text formats) with an id and a text column and an optional title; a BEIR folder
(its ``corpus.jsonl``). Columns are found by name (see :data:`ALIASES`) or mapped like training
(``columns={"id": "doc_id", "text": "body"}``). Files are streamed, never held whole, so that a corpus
larger than RAM can be indexed; only the set of ids is kept (to refuse duplicates).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrlkit.data.readers import file_format, iter_json_lines
from mrlkit.errors import DataError

logger = logging.getLogger(__name__)

ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "_id", "doc_id", "docid", "corpus_id", "corpus-id", "pid"),
    "text": ("text", "passage", "document", "body", "contents", "content", "abstract"),
    "title": ("title",),
}
COLUMNS_FIX = "Map the columns with --columns id=YOUR_ID_COLUMN,text=YOUR_TEXT_COLUMN"
CSV_CHUNK = 8192

Row = tuple[int, Mapping[str, Any]]  # line (0 for in-memory input), record


@dataclass
class CorpusScan:
    """What a first pass over the corpus found."""

    count: int
    ids: set[str] = field(repr=False)
    long_texts: int = 0


class Corpus:
    """A corpus source; :meth:`scan` checks it, :meth:`chunks` streams ``(ids, texts)`` for encoding."""

    def __init__(
        self,
        source: str | Path | Sequence[tuple[str, str]] | Mapping[str, str],
        columns: Mapping[str, str] | None = None,
        max_text_chars: int = 32768,
    ) -> None:
        self.max_text_chars = max_text_chars
        self.columns = dict(columns or {})
        unknown = sorted(set(self.columns) - set(ALIASES))
        if unknown:
            raise DataError(f"unknown column role(s) {unknown} in the mapping", fix="Use id, text and title")
        self.path: Path | None = None
        self.items: list[tuple[Any, Any]] | None = None
        if isinstance(source, Mapping):
            self.items = list(source.items())
        elif isinstance(source, (str, Path)):
            self.path = _corpus_file(Path(source))
        else:
            self.items = [tuple(item) for item in source]  # type: ignore[misc]
        self.where = str(self.path) if self.path is not None else "the corpus list"

    def _records(self) -> Iterator[Row]:
        if self.items is not None:
            for number, item in enumerate(self.items, start=1):
                if len(item) != 2:
                    raise DataError(
                        f"item {number} of the corpus list is not an (id, text) pair: {item!r:.80}"
                    )
                yield number, {"id": item[0], "text": item[1]}
            return
        assert self.path is not None  # noqa: S101 - set in __init__ when items is None
        try:
            yield from _file_records(self.path)
        except UnicodeDecodeError as exc:
            raise DataError(
                f"the file is not UTF-8 text (invalid byte at offset {exc.start} of a read block)",
                path=self.path,
                fix="Save it as UTF-8, e.g. iconv -f latin1 -t utf-8",
            ) from None

    def _roles(self, record: Mapping[str, Any], line: int) -> dict[str, str]:
        roles: dict[str, str] = {}
        for role, aliases in ALIASES.items():
            column = self.columns.get(role) or next((a for a in aliases if a in record), None)
            if column is None and role != "title":
                found = ", ".join(map(str, record)) or "none"
                raise DataError(
                    f"no {role} column (found: {found})", path=self.path, line=line or None, fix=COLUMNS_FIX
                )
            if column is not None:
                roles[role] = column
        return roles

    def rows(self) -> Iterator[tuple[int, str, str]]:
        """Yield ``(line, id, text)``; the text is ``title + " " + text`` when there is a title.

        Raises:
            DataError: A row lacks its id or text, or holds a non-text value (naming file and line).
        """
        roles: dict[str, str] | None = None
        for line, record in self._records():
            roles = roles or self._roles(record, line)
            yield line, self._id(record, roles["id"], line), self._text(record, roles, line)

    def _id(self, record: Mapping[str, Any], column: str, line: int) -> str:
        value = record.get(column)
        if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
            raise DataError(
                f"missing or empty id in column '{column}' (got {value!r:.40})",
                path=self.path,
                line=line,
                fix="Give every row a non-empty id",
            )
        return str(value)

    def _text(self, record: Mapping[str, Any], roles: dict[str, str], line: int) -> str:
        if roles["text"] not in record:
            raise DataError(
                f"the row has no '{roles['text']}' column", path=self.path, line=line, fix=COLUMNS_FIX
            )
        text, title = record.get(roles["text"]), record.get(roles["title"], "") if "title" in roles else ""
        for name, value in (("text", text), ("title", title)):
            if value is not None and not isinstance(value, str):
                raise DataError(
                    f"the {name} is a {type(value).__name__}, not text ({value!r:.40})",
                    path=self.path,
                    line=line,
                    fix="Store texts as strings",
                )
        return f"{title or ''} {text or ''}".strip()

    def scan(self) -> CorpusScan:
        """Check every row and count them; refuse an empty corpus or a repeated id.

        Raises:
            DataError: Empty corpus, duplicate id, or a bad row.
        """
        ids: set[str] = set()
        long_texts = 0
        for line, doc_id, text in self.rows():
            if doc_id in ids:
                raise DataError(
                    f"duplicate id '{doc_id:.60}'",
                    path=self.path,
                    line=line,
                    fix="Give every document its own id",
                )
            ids.add(doc_id)
            long_texts += len(text) > self.max_text_chars
        if not ids:
            raise DataError("the corpus is empty", path=self.path, fix="Give at least one (id, text) row")
        if long_texts:
            logger.warning(
                "%s: %d text(s) longer than %d characters are cut to that length before encoding "
                "(max_text_chars; the stored text is kept whole)",
                self.where,
                long_texts,
                self.max_text_chars,
            )
        return CorpusScan(len(ids), ids, long_texts)

    def chunks(self, size: int) -> Iterator[tuple[list[str], list[str]]]:
        """Yield ``(ids, texts)`` of up to ``size`` rows (texts whole; cut them with :meth:`for_model`)."""
        ids: list[str] = []
        texts: list[str] = []
        for _, doc_id, text in self.rows():
            ids.append(doc_id)
            texts.append(text)
            if len(ids) == size:
                yield ids, texts
                ids, texts = [], []
        if ids:
            yield ids, texts

    def for_model(self, texts: list[str]) -> list[str]:
        """Texts cut to ``max_text_chars`` for the encoder."""
        return [t[: self.max_text_chars] for t in texts]


def _corpus_file(path: Path) -> Path:
    if path.is_dir():
        corpus = path / "corpus.jsonl"
        if not corpus.is_file():
            raise DataError(
                "the folder has no corpus.jsonl", path=path, fix="Pass a BEIR folder or a corpus file"
            )
        return corpus
    if not path.is_file():
        raise DataError("corpus file not found", path=path, fix="Check the path")
    file_format(path)  # unknown extension -> DataError
    return path


def _file_records(path: Path) -> Iterator[Row]:
    fmt = file_format(path)
    if fmt == "jsonl":
        yield from iter_json_lines(path)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        line = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=CSV_CHUNK):
            for record in batch.to_pylist():
                line += 1
                yield line, record
    else:
        import csv

        import pandas as pd

        options: dict[str, Any] = {"sep": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {"sep": ","}
        line = 1
        try:
            frames = pd.read_csv(path, dtype=object, keep_default_na=False, chunksize=CSV_CHUNK, **options)
            for frame in frames:
                for record in frame.to_dict("records"):
                    line += 1
                    yield line, record
        except pd.errors.EmptyDataError:
            return
        except pd.errors.ParserError as exc:
            raise DataError(f"cannot parse the file ({str(exc).strip()})", path=path) from None
