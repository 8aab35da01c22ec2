"""Every bad input raises DataError naming the file, the line and the fix."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from mrlkit.data import load_data, load_eval_set
from mrlkit.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def _text(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def _jsonl(name: str, rows: list[object]) -> Callable[[Path], Path]:
    return _text(name, "".join(json.dumps(r) + "\n" for r in rows))


def _beir(edit: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        root = tmp / "beir"
        shutil.copytree(FIXTURES / "beir", root)
        edit(root)
        return root

    return make


def _append(relative: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        with (root / relative).open("a", encoding="utf-8") as handle:
            handle.write(text)

    return edit


def _remove(relative: str) -> Callable[[Path], None]:
    return lambda root: (root / relative).unlink()


def _empty_parquet(tmp: Path) -> Path:
    path = tmp / "empty.parquet"
    pd.DataFrame({"anchor": pd.Series([], dtype=str), "positive": pd.Series([], dtype=str)}).to_parquet(path)
    return path


def _folder(tmp: Path) -> Path:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "a.txt").write_text("hello")
    return tmp / "notes"


GOOD = {"anchor": "a question", "positive": "an answer"}

CASES = [
    # (id, make path, call, kwargs, pattern)
    (
        "not-found",
        lambda tmp: tmp / "nope.jsonl",
        "load",
        {},
        r"nope\.jsonl: no such file or folder\. Check the path",
    ),
    ("folder-not-beir", _folder, "load", {}, r"notes: this folder is not a BEIR dataset.*Pass a data file"),
    (
        "empty-jsonl",
        _text("e.jsonl", "\n  \n"),
        "load",
        {},
        r"e\.jsonl: the file is empty\. Write one JSON object",
    ),
    ("empty-csv", _text("e.csv", ""), "load", {}, r"e\.csv: the file is empty\. Add a header"),
    (
        "header-only-csv",
        _text("h.csv", "anchor,positive\n"),
        "load",
        {},
        r"h\.csv: the file has a header but no rows",
    ),
    (
        "invalid-json",
        _text("bad.jsonl", json.dumps(GOOD) + '\n{"anchor": "a",\n'),
        "load",
        {},
        r"bad\.jsonl:2: invalid JSON \(.*\)\. Write one JSON object per line",
    ),
    (
        "json-not-object",
        _text("arr.json", '["a", "b"]\n'),
        "load",
        {},
        r"arr\.json:1: the line holds a JSON array, not an object\. .*jq",
    ),
    (
        "unknown-extension",
        _text("data.txt", "a\tb\n"),
        "load",
        {},
        r"data\.txt: unsupported file extension '\.txt'\. "
        r"mrlkit reads \.jsonl, \.json, \.csv, \.tsv, \.parquet",
    ),
    (
        "missing-column",
        _jsonl("m.jsonl", [{"anchor": "q", "reply": "r"}]),
        "load",
        {},
        r"m\.jsonl: missing required column 'positive' for pairs data \(looked for: positive, pos, .*\); "
        r"columns found: anchor, reply\. Pass --columns positive=YOUR_COLUMN",
    ),
    (
        "missing-column-anchor",
        _text("m.csv", "q,positive\nx,y\n"),
        "load",
        {},
        r"missing required column 'anchor'.*columns found: q, positive\. Pass --columns anchor=YOUR_COLUMN",
    ),
    (
        "mapping-unknown-column",
        _jsonl("map.jsonl", [GOOD]),
        "load",
        {"columns": {"anchor": "question"}},
        r"map\.jsonl: the columns mapping names column 'question' \(for anchor\), "
        r"but the file has no such column; "
        r"columns found: anchor, positive",
    ),
    (
        "mapping-unknown-role",
        _jsonl("map.jsonl", [GOOD]),
        "load",
        {"columns": {"title": "anchor"}},
        r"unknown column role 'title' in the columns mapping\. Use roles from: anchor",
    ),
    (
        "blank-text",
        _jsonl("blank.jsonl", [GOOD, {"anchor": "b", "positive": "x"}, {"anchor": "c", "positive": "   "}]),
        "load",
        {},
        r"blank\.jsonl:3: empty text in column 'positive'\. Fill in the text or delete the row",
    ),
    (
        "blank-text-csv",
        _text("blank.csv", "anchor,positive\na,b\n,c\n"),
        "load",
        {},
        r"blank\.csv:3: empty text in column 'anchor'",
    ),
    (
        "missing-value",
        _jsonl("gap.jsonl", [GOOD, {"anchor": "b"}]),
        "load",
        {},
        r"gap\.jsonl:2: missing value in column 'positive'",
    ),
    (
        "non-string-text",
        _jsonl("num.jsonl", [GOOD, {"anchor": 42, "positive": "x"}]),
        "load",
        {},
        r"num\.jsonl:2: column 'anchor' holds 42 \(int\), not text\. Write the value as a string",
    ),
    (
        "numeric-text-column",
        _jsonl("ids.jsonl", [{"anchor": 1, "positive": "x"}, {"anchor": 2, "positive": "y"}]),
        "load",
        {},
        r"ids\.jsonl:1: column 'anchor' holds 1 \(int\), not text",
    ),
    (
        "score-not-number",
        _text("s.csv", "sentence1,sentence2,score\na,b,0.5\nc,d,high\n"),
        "load",
        {},
        r"s\.csv:3: score 'high' in column 'score' is not a number\. .*--kind pairs",
    ),
    (
        "score-out-of-range",
        _text("s.tsv", "sentence1\tsentence2\tscore\na\tb\t0.5\nc\td\t4.5\n"),
        "load",
        {},
        r"s\.tsv:3: score 4\.5 in column 'score' is outside the score range \[0, 1\]\. .*"
        r"pass --score-range LO,HI with your scale \(e\.g\. --score-range 0,5\)",
    ),
    (
        "score-nan-csv",
        _text("s.csv", "sentence1,sentence2,label\na,b,0.5\nc,d,nan\n"),
        "load",
        {},
        r"s\.csv:3: score in column 'label' is NaN",
    ),
    (
        "score-nan-json",
        _text(
            "s.jsonl",
            '{"sentence1": "a", "sentence2": "b", "score": 0.1}\n'
            '{"sentence1": "c", "sentence2": "d", "score": NaN}\n',
        ),
        "load",
        {},
        r"s\.jsonl:2: score in column 'score' is NaN",
    ),
    (
        "score-missing-csv",
        _text("s.csv", "sentence1,sentence2,score\na,b,\n"),
        "load",
        {},
        r"s\.csv:2: missing score in column 'score'",
    ),
    (
        "pos-not-list",
        _jsonl("q.jsonl", [{"query": "a", "pos": ["x"]}, {"query": "b", "pos": "y"}]),
        "load",
        {},
        r"q\.jsonl:2: 'pos' must be a list of texts, got str\. Write it as a list",
    ),
    (
        "pos-empty-list",
        _jsonl("q.jsonl", [{"query": "a", "pos": ["x"]}, {"query": "b", "pos": []}]),
        "load",
        {},
        r"q\.jsonl:2: 'pos' is an empty list",
    ),
    (
        "pos-item-blank",
        _jsonl("q.jsonl", [{"query": "a", "pos": ["x", " "]}]),
        "load",
        {},
        r"q\.jsonl:1: empty text in pos\[1\]",
    ),
    (
        "neg-not-list",
        _jsonl("q.jsonl", [{"query": "a", "pos": ["x"], "neg": "y"}]),
        "load",
        {},
        r"q\.jsonl:1: 'neg' must be a list of texts",
    ),
    (
        "beir-no-corpus",
        _beir(_remove("corpus.jsonl")),
        "load",
        {},
        r"beir: BEIR folder is missing corpus\.jsonl",
    ),
    (
        "beir-no-queries",
        _beir(_remove("queries.jsonl")),
        "load",
        {},
        r"beir: BEIR folder is missing queries\.jsonl",
    ),
    (
        "beir-corpus-no-id",
        _beir(_append("corpus.jsonl", '{"title": "t", "text": "no id"}\n')),
        "load",
        {},
        r"corpus\.jsonl:9: the line has no '_id'",
    ),
    (
        "beir-duplicate-doc-id",
        _beir(_append("corpus.jsonl", '{"_id": "doc1", "text": "again"}\n')),
        "load",
        {},
        r"corpus\.jsonl:9: duplicate _id 'doc1' \(first on line 2\)\. Give every line a unique _id",
    ),
    (
        "beir-qrels-fields",
        _beir(_append("qrels/train.tsv", "q1 doc1 1\n")),
        "load",
        {},
        r"train\.tsv:8: expected 3 tab-separated fields \(query-id, corpus-id, score\), found 1",
    ),
    (
        "beir-qrels-unknown-query",
        _beir(_append("qrels/train.tsv", "q99\tdoc1\t1\n")),
        "load",
        {},
        r"train\.tsv:8: query id 'q99' is not in queries\.jsonl",
    ),
    (
        "beir-qrels-unknown-doc",
        _beir(_append("qrels/train.tsv", "q1\tdoc99\t1\n")),
        "load",
        {},
        r"train\.tsv:8: corpus id 'doc99' is not in corpus\.jsonl",
    ),
    (
        "beir-qrels-score",
        _beir(_append("qrels/train.tsv", "q1\tdoc1\t0.5\n")),
        "load",
        {},
        r"train\.tsv:8: score '0\.5' is not an integer",
    ),
    (
        "beir-no-train",
        _beir(_remove("qrels/train.tsv")),
        "load",
        {},
        r"beir: a BEIR folder needs qrels/train\.tsv to fine-tune",
    ),
    (
        "beir-eval-missing-split",
        _beir(lambda root: None),
        "eval",
        {"split": "dev"},
        r"there is no qrels/dev\.tsv \(splits found: test, train\)",
    ),
    (
        "csv-ragged-long",
        _text("r.csv", "anchor,positive,negative\na,b,c\nd,e,f,g\n"),
        "load",
        {},
        r"r\.csv:3: the row has 4 fields but the header has 3\. .*double quotes",
    ),
    (
        "csv-ragged-short",
        _text("r.csv", "anchor,positive,negative\na,b,c\nd,e\n"),
        "load",
        {},
        r"r\.csv:3: the row has 2 fields but the header has 3",
    ),
    (
        "tsv-ragged",
        _text("r.tsv", "anchor\tpositive\na\tb\nc\td\te\n"),
        "load",
        {},
        r"r\.tsv:3: the row has 3 fields but the header has 2\. .*tabs",
    ),
    ("parquet-no-rows", _empty_parquet, "load", {}, r"empty\.parquet: the Parquet file has no rows"),
    (
        "not-utf8",
        _text("latin.csv", "anchor,positive\ncaf\xe9,b\n".encode("latin-1")),
        "load",
        {},
        r"latin\.csv: the file is not UTF-8 text",
    ),
    (
        "eval-fraction-zero",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"eval_fraction": 0.0},
        r"eval_fraction must be between 0 and 1 \(exclusive\), got 0\.0",
    ),
    (
        "eval-fraction-one",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"eval_fraction": 1.5},
        r"eval_fraction must be between 0 and 1",
    ),
    (
        "one-anchor",
        _jsonl("one.jsonl", [GOOD, {"anchor": "a question", "positive": "another answer"}]),
        "load",
        {},
        r"one\.jsonl: found 1 distinct anchor; a train/dev/test split needs at least 5 \(2 for dev, 2 for "
        r"test, 1 to train\)\. Pass --eval-data and --test-data, add rows with more distinct anchors",
    ),
    (
        "one-anchor-two-way",
        _jsonl("one.jsonl", [GOOD, {"anchor": "a question", "positive": "another answer"}]),
        "load",
        {"test_fraction": 0},
        r"one\.jsonl: found 1 distinct anchor\(s\); cannot split into train and eval",
    ),
    (
        "test-fraction-too-large",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"eval_fraction": 0.5, "test_fraction": 0.5},
        r"test_fraction must be in \[0, 1\) with eval_fraction \+ test_fraction < 1, got 0\.5",
    ),
    (
        "bad-kind",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"kind": "quads"},
        r"unknown data kind 'quads'\. Choose one of",
    ),
    (
        "bad-score-range",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"score_range": (5, 0)},
        r"score_range must be two numbers LO < HI",
    ),
    (
        "bad-max-rows",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"max_rows": 0},
        r"max_rows must be a positive integer",
    ),
    (
        "kind-beir-on-file",
        _jsonl("ok.jsonl", [GOOD]),
        "load",
        {"kind": "beir"},
        r"ok\.jsonl: kind 'beir' needs a folder",
    ),
]


@pytest.mark.parametrize(
    ("make", "call", "kwargs", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_data_error(tmp_path: Path, make, call: str, kwargs: dict, pattern: str) -> None:
    path = make(tmp_path)
    loader = load_data if call == "load" else load_eval_set
    with pytest.raises(DataError, match=pattern):
        loader(path, **kwargs)


def test_error_carries_path_and_line(tmp_path: Path) -> None:
    path = _jsonl("blank.jsonl", [GOOD, {"anchor": "b", "positive": ""}])(tmp_path)
    with pytest.raises(DataError) as info:
        load_data(path)
    assert info.value.path == str(path)
    assert info.value.line == 2
