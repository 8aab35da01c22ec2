"""Read a BEIR folder: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/{train,dev,test}.tsv``.

``qrels/train.tsv`` gives the training pairs (query text, relevant doc text); ``dev.tsv`` the set used
to pick checkpoints (else a split of the train queries); ``test.tsv`` the final report's set (else
another split of the train queries, so that the report never scores the queries that picked the model).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from datasets import Dataset

from mrlkit.data.readers import iter_json_lines, open_text
from mrlkit.data.splits import eval_keys, set_sizes, split_keys
from mrlkit.data.types import DataKind, IRSet, TrainingData
from mrlkit.errors import DataError

PARTS = ("corpus.jsonl", "queries.jsonl", "qrels")
QRELS_FIX = (
    "Each line after the header is query-id<TAB>corpus-id<TAB>score with an integer score "
    "(TREC qrels 'qid 0 docid rel' need their second column dropped)"
)
Qrel = tuple[int, str, str, int]  # line, query id, doc id, score


def looks_like_beir(path: Path) -> bool:
    """Return whether folder ``path`` holds any part of a BEIR dataset."""
    return any((path / part).exists() for part in PARTS)


def check_folder(path: Path) -> None:
    """Raise a :class:`DataError` naming the first missing part of a BEIR folder."""
    for part in PARTS:
        if not (path / part).exists():
            raise DataError(
                f"BEIR folder is missing {part}",
                path=path,
                fix="A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/{train,dev,test}.tsv",
            )


def read_corpus(path: Path) -> dict[str, str]:
    """Read ``corpus.jsonl`` into doc id -> ``title + " " + text`` (stripped).

    Raises:
        DataError: A line lacks ``_id``, repeats an ``_id`` or has non-text title/text.

    """
    corpus: dict[str, str] = {}
    for line, record in iter_json_lines(path):
        doc_id = _record_id(record, line, path, corpus)
        title = _optional_text(record, "title", line, path)
        text = _optional_text(record, "text", line, path)
        corpus[doc_id] = f"{title} {text}".strip()
    if not corpus:
        raise DataError(
            "the corpus is empty", path=path, fix='Add one {"_id", "title", "text"} object per line'
        )
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    """Read ``queries.jsonl`` into query id -> text.

    Raises:
        DataError: A line lacks ``_id`` or text, or repeats an ``_id``.

    """
    queries: dict[str, str] = {}
    for line, record in iter_json_lines(path):
        query_id = _record_id(record, line, path, queries)
        text = _optional_text(record, "text", line, path)
        if not text:
            raise DataError("the query has no text", path=path, line=line, fix='Give it a non-empty "text"')
        queries[query_id] = text
    if not queries:
        raise DataError("there are no queries", path=path, fix='Add one {"_id", "text"} object per line')
    return queries


def read_qrels(path: Path, queries: dict[str, str], corpus: dict[str, str]) -> list[Qrel]:
    """Read a qrels TSV; every id must exist in ``queries`` / ``corpus``.

    Raises:
        DataError: Wrong number of fields, non-integer score or unknown id (with the line).

    """
    qrels: list[Qrel] = []
    for line, fields in _qrels_fields(path):
        query_id, doc_id, score = fields
        try:
            value = int(score)
        except ValueError:
            raise DataError(
                f"score '{score}' is not an integer", path=path, line=line, fix=QRELS_FIX
            ) from None
        if query_id not in queries:
            raise DataError(
                f"query id '{query_id}' is not in queries.jsonl",
                path=path,
                line=line,
                fix="Add the query to queries.jsonl or delete the line",
            )
        if doc_id not in corpus:
            raise DataError(
                f"corpus id '{doc_id}' is not in corpus.jsonl",
                path=path,
                line=line,
                fix="Add the document to corpus.jsonl or delete the line",
            )
        qrels.append((line, query_id, doc_id, value))
    return qrels


def qrels_ir_set(qrels: list[Qrel], queries: dict[str, str], corpus: dict[str, str], name: str) -> IRSet:
    """Build an :class:`IRSet` of the queries with at least one relevant (score > 0) doc."""
    relevant: dict[str, set[str]] = {}
    for _, query_id, doc_id, score in qrels:
        if score > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    return IRSet(queries={q: queries[q] for q in relevant}, corpus=corpus, relevant=relevant, name=name)


def load_beir_eval(path: Path, split: str) -> IRSet:
    """Load ``qrels/{split}.tsv`` of a BEIR folder as an :class:`IRSet` over the full corpus.

    Raises:
        DataError: A part of the folder or the split is missing, or a file is malformed.

    """
    check_folder(path)
    qrels_path = path / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = ", ".join(sorted(p.stem for p in (path / "qrels").glob("*.tsv"))) or "none"
        raise DataError(
            f"there is no qrels/{split}.tsv (splits found: {found})",
            path=path,
            fix="Pass --split with one of them",
        )
    corpus = read_corpus(path / "corpus.jsonl")
    queries = read_queries(path / "queries.jsonl")
    return qrels_ir_set(read_qrels(qrels_path, queries, corpus), queries, corpus, f"{path.name}-{split}")


def load_beir(
    path: Path,
    *,
    eval_fraction: float | None,
    seed: int,
    dedupe: bool,
    max_rows: int | None,
    test_fraction: float = 0.0,
) -> TrainingData:
    """Load a BEIR folder for fine-tuning (see the module docstring for which file feeds what).

    ``eval_fraction=None`` sets no eval set aside (the caller brings its own): every train query trains.
    Without ``qrels/test.tsv``, ``test_fraction`` of the train queries become the test set; with
    ``test_fraction=0`` the test set is the dev set (``stats["scored_on_selection_set"]``).

    Raises:
        DataError: ``qrels/train.tsv`` is missing, or any file is malformed.

    """
    check_folder(path)
    train_path = path / "qrels" / "train.tsv"
    if not train_path.is_file():
        raise DataError(
            "a BEIR folder needs qrels/train.tsv to fine-tune (found no training judgments)",
            path=path,
            fix="Add qrels/train.tsv, or use the folder only for evaluation (mrlkit evaluate --data)",
        )
    corpus = read_corpus(path / "corpus.jsonl")
    queries = read_queries(path / "queries.jsonl")
    train_qrels = read_qrels(train_path, queries, corpus)
    frame, cut = _train_pairs(train_qrels, queries, corpus, max_rows)
    stats: dict[str, object] = {
        "rows_read": len(train_qrels),
        "positive_pairs": len(frame) + cut,
        "rows_cut_by_max_rows": cut,
    }
    frame, stats["empty_docs_skipped"] = _drop_empty(frame)
    stats["duplicates_removed"] = 0
    if dedupe:
        duplicated = frame.duplicated(subset=["anchor", "positive"])
        stats["duplicates_removed"] = int(duplicated.sum())
        frame = frame.loc[~duplicated]
    has_test = (path / "qrels" / "test.tsv").is_file()
    split_test = 0.0 if has_test else test_fraction
    held = _held_out(path, frame, queries, corpus, (eval_fraction, split_test), seed)
    eval_set, test_set, frame = held.dev, held.test, held.train
    stats.update(
        eval_source=held.dev_source,
        test_source=held.test_source,
        eval_rows=held.dev_rows,
        test_rows=held.test_rows,
    )
    if has_test:
        test_qrels = read_qrels(path / "qrels" / "test.tsv", queries, corpus)
        test_set, stats["test_source"] = (
            qrels_ir_set(test_qrels, queries, corpus, f"{path.name}-test"),
            "qrels/test.tsv",
        )
    stats["scored_on_selection_set"] = test_set is not None and test_set is eval_set
    train = Dataset.from_dict({"anchor": frame["anchor"].tolist(), "positive": frame["positive"].tolist()})
    stats.update(
        kind=DataKind.BEIR.value,
        source=str(path),
        format="beir",
        train_rows=len(train),
        columns={"anchor": "queries.jsonl text", "positive": "corpus.jsonl title + text"},
        corpus_docs=len(corpus),
        queries=len(queries),
        eval=set_sizes(eval_set),
        test=set_sizes(test_set),
    )
    return TrainingData(DataKind.BEIR, train, eval_set, test_set, str(path), stats)


def _train_pairs(
    qrels: list[Qrel], queries: dict[str, str], corpus: dict[str, str], max_rows: int | None
) -> tuple[pd.DataFrame, int]:
    """The relevant (score > 0) train pairs, at most ``max_rows``; also how many the limit cut."""
    rows = [(q, d, queries[q], corpus[d]) for _, q, d, score in qrels if score > 0]
    cut = 0
    if max_rows is not None:
        cut = max(0, len(rows) - max_rows)
        rows = rows[:max_rows]
    if not rows:
        raise DataError(
            "qrels/train.tsv has no relevant pair (score > 0)",
            fix="Mark relevant documents with score 1 or more",
        )
    return pd.DataFrame(rows, columns=["query_id", "doc_id", "anchor", "positive"], dtype=object), cut


def _drop_empty(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    empty = frame["positive"].str.len().eq(0)
    return frame.loc[~empty], int(empty.sum())


class _HeldOut(NamedTuple):
    dev: IRSet | None
    test: IRSet | None
    train: pd.DataFrame
    dev_source: str
    test_source: str
    dev_rows: int
    test_rows: int


def _held_out(
    path: Path,
    frame: pd.DataFrame,
    queries: dict[str, str],
    corpus: dict[str, str],
    fractions: tuple[float | None, float],
    seed: int,
) -> _HeldOut:
    """Set aside dev (qrels/dev.tsv, else a split) and test (a split; 0: none) queries of the train pairs."""
    eval_fraction, test_fraction = fractions
    if eval_fraction is None:
        return _HeldOut(None, None, frame, "none (no split)", "none", 0, 0)
    train_path = path / "qrels" / "train.tsv"
    dev_path = path / "qrels" / "dev.tsv"
    query_ids = frame["query_id"].tolist()
    dev: IRSet | None
    if dev_path.is_file():
        dev = qrels_ir_set(read_qrels(dev_path, queries, corpus), queries, corpus, f"{path.name}-dev")
        dev_keys: set[str] = set()
        test_keys = eval_keys(query_ids, test_fraction, seed, train_path) if test_fraction else set()
        dev_source = "qrels/dev.tsv"
    else:
        dev_keys, test_keys = split_keys(
            query_ids, eval_fraction, test_fraction, seed, train_path, "train queries"
        )
        dev = _split_set(frame, dev_keys, queries, corpus, f"{path.name}-eval")
        dev_source = f"split: {eval_fraction:g} of the train queries, seed {seed}"
    in_dev, in_test = frame["query_id"].isin(dev_keys), frame["query_id"].isin(test_keys)
    test, test_source = dev, "same as eval"
    if test_keys:
        test = _split_set(frame, test_keys, queries, corpus, f"{path.name}-test")
        test_source = f"split: {test_fraction:g} of the train queries, seed {seed}"
    train = frame.loc[~(in_dev | in_test)]
    return _HeldOut(dev, test, train, dev_source, test_source, int(in_dev.sum()), int(in_test.sum()))


def _split_set(
    frame: pd.DataFrame, keys: set[str], queries: dict[str, str], corpus: dict[str, str], name: str
) -> IRSet:
    held = frame["query_id"].isin(keys)
    relevant: dict[str, set[str]] = {}
    for query_id, doc_id in zip(frame.loc[held, "query_id"], frame.loc[held, "doc_id"], strict=True):
        relevant.setdefault(query_id, set()).add(doc_id)
    return IRSet({q: queries[q] for q in relevant}, corpus, relevant, name)


def _qrels_fields(path: Path) -> Iterator[tuple[int, list[str]]]:
    with open_text(path) as handle:
        for line, raw in enumerate(handle, start=1):
            text = raw.rstrip("\r\n")
            if not text.strip():
                continue
            fields = text.split("\t")
            if len(fields) != 3:
                raise DataError(
                    f"expected 3 tab-separated fields (query-id, corpus-id, score), found {len(fields)}",
                    path=path,
                    line=line,
                    fix=QRELS_FIX,
                )
            if line == 1 and not fields[2].strip().lstrip("-").isdigit():
                continue  # header
            yield line, [f.strip() for f in fields]


def _record_id(record: dict[str, object], line: int, path: Path, seen: dict[str, str]) -> str:
    value = record.get("_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise DataError(
            "the line has no '_id' (or it is not a string)",
            path=path,
            line=line,
            fix='Give it an "_id": "..."',
        )
    key = str(value)
    if key in seen:
        raise DataError(
            f"duplicate _id '{key}' (first on line {_first_line(path, key)})",
            path=path,
            line=line,
            fix="Give every line a unique _id",
        )
    return key


def _first_line(path: Path, key: str) -> int | None:
    for line, record in iter_json_lines(path):
        if str(record.get("_id")) == key:
            return line
    return None


def _optional_text(record: dict[str, object], field: str, line: int, path: Path) -> str:
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(
            f"'{field}' holds {type(value).__name__}, not text",
            path=path,
            line=line,
            fix=f'Write "{field}" as a string',
        )
    return value.strip()
