"""Loading single files: every layout from every format, column mapping, dedupe, splits, scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mrlkit.data import DataKind, IRSet, STSSet, load_data, load_eval_set
from mrlkit.data.readers import object_frame, read_table

FIXTURES = Path(__file__).parent / "fixtures" / "data"

LAYOUTS = {
    "pairs": (FIXTURES / "pairs.jsonl", DataKind.PAIRS, ["anchor", "positive"]),
    "triplets": (FIXTURES / "triplets.csv", DataKind.TRIPLETS, ["anchor", "positive", "negative"]),
    "scored": (FIXTURES / "scored.tsv", DataKind.SCORED, ["sentence1", "sentence2", "score"]),
}


def _frame(path: Path) -> pd.DataFrame:
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    else:
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv", "parquet"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_each_layout_loads_from_each_format(tmp_path: Path, layout: str, fmt: str) -> None:
    source, kind, columns = LAYOUTS[layout]
    frame = _frame(source)
    path = _write(frame, tmp_path / f"data.{fmt}")
    data = load_data(path, score_range=(0, 5))
    assert data.kind == kind
    assert data.train.column_names == columns
    assert data.stats["rows_read"] == len(frame)
    dev, test = data.stats["eval_rows"], data.stats["test_rows"]
    assert dev >= 2 and test >= 2  # three-way split: at least two anchors each on dev and test
    assert len(data.train) + dev + test + data.stats["duplicates_removed"] == len(frame)
    assert data.test is not data.eval and not data.stats["scored_on_selection_set"]
    if kind == DataKind.SCORED:
        assert isinstance(data.eval, STSSet) and len(data.eval) == dev
        assert isinstance(data.test, STSSet) and len(data.test) == test
        assert not set(data.eval.sentences1) & set(data.test.sentences1)
    else:
        assert isinstance(data.eval, IRSet) and isinstance(data.test, IRSet)
        assert not set(data.eval.queries.values()) & set(data.test.queries.values())


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_query_pos_neg_expands_one_row_per_positive(tmp_path: Path, fmt: str) -> None:
    records = [json.loads(line) for line in (FIXTURES / "qpn.jsonl").read_text().splitlines()]
    path = _write(pd.DataFrame(records), tmp_path / f"qpn.{fmt}")
    data = load_data(path, dedupe=False, eval_fraction=0.01)
    assert data.kind == DataKind.QUERY_POS_NEG
    assert data.train.column_names == ["anchor", "positive", "negative"]
    anchors = set(data.train["anchor"]) | set(data.eval.queries.values()) | set(data.test.queries.values())
    assert len(anchors) == 8
    assert len(data.train) + data.stats["eval_rows"] + data.stats["test_rows"] == 8 + 1 + 2
    corpus = set(data.eval.corpus.values())
    assert all(n in corpus for r in records for n in r["neg"] + r["pos"])


def test_query_pos_neg_expansion_order(tmp_path: Path) -> None:
    rows = [
        {"query": "q1", "pos": ["p1", "p2", "p3"], "neg": ["n1", "n2"]},
        {"query": "q2", "pos": ["p4"], "neg": ["n3"]},
    ]
    path = _write(pd.DataFrame(rows), tmp_path / "qpn.jsonl")
    evaluation = load_eval_set(path)
    assert isinstance(evaluation, IRSet)
    assert evaluation.queries == {"q0": "q1", "q1": "q2"}
    assert evaluation.corpus == {
        "d0": "p1",
        "d1": "p2",
        "d2": "p3",
        "d3": "p4",
        "d4": "n1",
        "d5": "n2",
        "d6": "n3",
    }
    assert evaluation.relevant == {"q0": {"d0", "d1", "d2"}, "q1": {"d3"}}
    for seed in range(20):  # find a seed that puts q1 on the train side
        train = load_data(path, seed=seed, test_fraction=0).train.to_list()  # 2 queries: train and dev
        if train[0]["anchor"] == "q1":
            break
    assert [(r["positive"], r["negative"]) for r in train] == [("p1", "n1"), ("p2", "n2"), ("p3", "n1")]


def test_query_pos_neg_without_negatives_gives_pairs(tmp_path: Path) -> None:
    rows = [{"query": f"q{i}", "pos": [f"p{i}"]} for i in range(5)]
    data = load_data(_write(pd.DataFrame(rows), tmp_path / "qp.jsonl"))
    assert data.kind == DataKind.QUERY_POS_NEG
    assert data.train.column_names == ["anchor", "positive"]


def test_pairs_jsonl_dedupe_and_eval_set() -> None:
    data = load_data(FIXTURES / "pairs.jsonl")
    assert data.kind == DataKind.PAIRS
    assert data.stats["rows_read"] == 22
    assert data.stats["duplicates_removed"] == 1
    assert len(data.train) + data.stats["eval_rows"] + data.stats["test_rows"] == 21
    assert not set(data.test.queries.values()) & (set(data.train["anchor"]) | set(data.eval.queries.values()))
    assert len(data.test.corpus) == 21
    ev = data.eval
    assert isinstance(ev, IRSet)
    assert len(ev.corpus) == 21  # every unique positive of the whole file
    assert set(ev.queries) == set(ev.relevant)
    assert list(ev.queries) == [f"q{i}" for i in range(len(ev.queries))]
    train_anchors = set(data.train["anchor"])
    for qid, text in ev.queries.items():
        assert text not in train_anchors
        assert ev.relevant[qid] <= set(ev.corpus)


def test_dedupe_off_keeps_duplicates() -> None:
    data = load_data(FIXTURES / "pairs.jsonl", dedupe=False)
    assert data.stats["duplicates_removed"] == 0
    assert len(data.train) + data.stats["eval_rows"] + data.stats["test_rows"] == 22


def test_column_mapping(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": ["1", "2", "3"],
            "question": ["a?", "b?", "c?"],
            "reply": ["A.", "B.", "C."],
            "extra": ["x"] * 3,
        }
    )
    path = _write(frame, tmp_path / "faq.csv")
    data = load_data(path, columns={"anchor": "question", "positive": "reply"}, test_fraction=0)
    assert data.kind == DataKind.PAIRS
    assert data.stats["columns"] == {"anchor": "question", "positive": "reply"}
    assert data.stats["columns_found"] == ["id", "question", "reply", "extra"]
    assert set(data.train["positive"]) <= {"A.", "B.", "C."}


def test_column_mapping_can_reuse_canonical_names(tmp_path: Path) -> None:
    frame = pd.DataFrame({"anchor": ["doc one", "doc two"], "text": ["query one", "query two"]})
    path = _write(frame, tmp_path / "swap.jsonl")
    evaluation = load_eval_set(path, columns={"anchor": "text", "positive": "anchor"})
    assert sorted(evaluation.queries.values()) == ["query one", "query two"]
    assert sorted(evaluation.corpus.values()) == ["doc one", "doc two"]


@pytest.mark.parametrize(
    ("columns", "kind"),
    [
        (["question", "answer"], DataKind.PAIRS),
        (["query", "passage", "hard_negative"], DataKind.TRIPLETS),
        (["text1", "text2", "label"], DataKind.SCORED),
        (["anchor", "positive", "similarity"], DataKind.SCORED),
    ],
)
def test_layout_detection_from_aliases(tmp_path: Path, columns: list[str], kind: DataKind) -> None:
    rows = {c: [f"{c} {i}" for i in range(5)] for c in columns}  # 5 anchors: the least a 3-way split takes
    for score_name in ("label", "similarity"):
        if score_name in rows:
            rows[score_name] = ["0.5"] * 5
    data = load_data(_write(pd.DataFrame(rows), tmp_path / "alias.csv"))
    assert data.kind == kind


def test_kind_given_overrides_detection() -> None:
    data = load_data(FIXTURES / "triplets.csv", kind="pairs")
    assert data.kind == DataKind.PAIRS
    assert data.train.column_names == ["anchor", "positive"]


def test_score_normalisation() -> None:
    data = load_data(FIXTURES / "scored.tsv", score_range=(0, 5))
    scores = dict(zip(data.train["sentence1"], data.train["score"], strict=True))
    scores.update(zip(data.eval.sentences1, data.eval.scores, strict=True))
    scores.update(zip(data.test.sentences1, data.test.scores, strict=True))
    assert scores["A man is playing a guitar."] == pytest.approx(0.96)
    assert scores["The train arrived late."] == 0.0
    assert scores["A bird sings in a tree."] == 1.0
    assert len(scores) == 10


def test_split_is_deterministic_and_by_anchor(tmp_path: Path) -> None:
    rows = [{"anchor": f"question {i}", "positive": f"answer {i}.{j}"} for i in range(200) for j in range(3)]
    path = _write(pd.DataFrame(rows), tmp_path / "many.jsonl")
    first = load_data(path, seed=7, eval_fraction=0.2)
    again = load_data(path, seed=7, eval_fraction=0.2)
    other = load_data(path, seed=8, eval_fraction=0.2)
    assert first.train["anchor"] == again.train["anchor"]
    assert first.eval.queries == again.eval.queries
    assert first.test.queries == again.test.queries
    train_anchors = set(first.train["anchor"])
    eval_anchors = set(first.eval.queries.values())
    test_anchors = set(first.test.queries.values())
    assert not train_anchors & eval_anchors and not train_anchors & test_anchors
    assert not eval_anchors & test_anchors
    assert len(train_anchors) + len(eval_anchors) + len(test_anchors) == 200
    assert 20 <= len(eval_anchors) <= 60
    assert 8 <= len(test_anchors) <= 35  # test_fraction 0.1 by default
    assert all(len(docs) == 3 for docs in first.eval.relevant.values())
    assert all(len(docs) == 3 for docs in first.test.relevant.values())
    assert set(other.eval.queries.values()) != eval_anchors
    assert set(other.test.queries.values()) != test_anchors


def test_tiny_file_still_gets_one_eval_anchor(tmp_path: Path) -> None:
    rows = [{"anchor": "a", "positive": "x"}, {"anchor": "b", "positive": "y"}]
    data = load_data(_write(pd.DataFrame(rows), tmp_path / "two.jsonl"), eval_fraction=0.01, test_fraction=0)
    assert len(data.train) == 1 and len(data.eval) == 1


def test_max_rows(tmp_path: Path) -> None:
    data = load_data(FIXTURES / "pairs.jsonl", max_rows=10)
    assert data.stats["rows_read"] == 10
    parquet = _write(_frame(FIXTURES / "pairs.jsonl"), tmp_path / "p.parquet")
    assert load_data(parquet, max_rows=5).stats["rows_read"] == 5


def test_load_eval_set_scored_file() -> None:
    evaluation = load_eval_set(FIXTURES / "scored.tsv", score_range=(0, 5))
    assert isinstance(evaluation, STSSet)
    assert len(evaluation) == 10
    assert all(0.0 <= s <= 1.0 for s in evaluation.scores)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_texts_stay_python_objects(layout: str) -> None:
    """pandas 3 would infer Arrow-backed strings, whose allocator keeps memory for the process's life."""
    table = read_table(LAYOUTS[layout][0])
    assert {str(dtype) for dtype in table.frame.dtypes} == {"object"}
    assert all(isinstance(v, str) for v in table.frame.iloc[:, 0])
    frame = object_frame({"text": ["a", "b"], "line": np.array([2, 3], dtype=np.int64)})
    assert frame["text"].dtype == object and frame["line"].dtype == np.int64
    assert frame["text"].tolist() == ["a", "b"]
