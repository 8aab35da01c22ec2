"""The three-way split (train / dev for selection / test for the report) of one file or a BEIR folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mrlkit.data import load_data
from mrlkit.data.splits import split_keys
from mrlkit.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def _pairs(path: Path, anchors: int, positives: int = 2) -> Path:
    rows = [
        {"anchor": f"question {i}", "positive": f"answer {i}.{j}"}
        for i in range(anchors)
        for j in range(positives)
    ]
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    return path


def test_three_way_split_is_disjoint_by_anchor_and_seeded(tmp_path: Path) -> None:
    path = _pairs(tmp_path / "qa.jsonl", 300)
    first, again, other = load_data(path, seed=5), load_data(path, seed=5), load_data(path, seed=6)
    train = set(first.train["anchor"])
    dev, test = set(first.eval.queries.values()), set(first.test.queries.values())
    assert not train & dev and not train & test and not dev & test
    assert len(train) + len(dev) + len(test) == 300
    assert 15 <= len(dev) <= 45 and 15 <= len(test) <= 45  # 0.1 each by default, hashed
    # every row of a held-out anchor is held out with it: no positive of a test query trains
    assert len(first.train) == 2 * len(train)
    assert all(len(docs) == 2 for docs in first.test.relevant.values())
    assert (first.eval.queries, first.test.queries) == (again.eval.queries, again.test.queries)
    assert first.train["anchor"] == again.train["anchor"]
    assert set(other.test.queries.values()) != test
    assert first.stats["test_source"] == "split: 0.1 of the anchors, seed 5"
    assert first.stats["scored_on_selection_set"] is False
    assert first.stats["test_rows"] == 2 * len(test) and first.stats["eval_rows"] == 2 * len(dev)


def test_split_keys_minimums_and_hash_thresholds() -> None:
    keys = [f"k{i}" for i in range(5)]
    dev, test = split_keys(keys, 0.1, 0.1, 42, "f.jsonl", "anchors")
    assert len(dev) == 2 and len(test) == 2 and not dev & test  # the minimums; one key left to train
    many = [f"k{i}" for i in range(2000)]
    dev, test = split_keys(many, 0.2, 0.1, 42, "f.jsonl", "anchors")
    assert 340 <= len(dev) <= 460 and 150 <= len(test) <= 250
    # adding keys never moves an existing one (hash thresholds, not ranks, once past the minimums)
    more_dev, more_test = split_keys(
        [*many, *(f"x{i}" for i in range(500))], 0.2, 0.1, 42, "f.jsonl", "anchors"
    )
    assert dev <= more_dev and test <= more_test
    assert split_keys(keys, 0.1, 0.0, 42, "f.jsonl", "anchors")[1] == set()  # test_fraction 0: two-way


def test_too_small_to_split_three_ways(tmp_path: Path) -> None:
    path = _pairs(tmp_path / "four.jsonl", 4)
    with pytest.raises(
        DataError,
        match=r"four\.jsonl: found 4 distinct anchors; a train/dev/test split needs at least 5 \(2 for dev, "
        r"2 for test, 1 to train\)\. Pass --eval-data and --test-data, add rows with more distinct anchors, "
        r"or pass --test-fraction 0 to score the report on the dev set",
    ):
        load_data(path)
    two_way = load_data(path, test_fraction=0)  # the way out the message names
    assert two_way.test is two_way.eval and two_way.stats["scored_on_selection_set"] is True


def test_beir_without_test_qrels_splits_test_off_train_queries(tmp_path: Path) -> None:
    root = tmp_path / "beir"
    shutil.copytree(FIXTURES / "beir", root)
    (root / "qrels" / "test.tsv").unlink()
    with pytest.raises(DataError, match=r"found 4 distinct train queries; a train/dev/test split needs"):
        load_data(root)  # 4 train queries with a relevant doc
    lines = ["query-id\tcorpus-id\tscore"] + [f"q{i % 6}\tdoc{i % 8}\t1" for i in range(6)]
    (root / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n")
    data = load_data(root)
    assert data.test is not data.eval and data.stats["test_source"].startswith(
        "split: 0.1 of the train queries"
    )
    dev, test = set(data.eval.relevant), set(data.test.relevant)
    assert len(dev) == len(test) == 2 and not dev & test
    held_out = set(data.eval.queries.values()) | set(data.test.queries.values())
    assert len(held_out) == 4 and not held_out & set(data.train["anchor"])
    assert data.stats["scored_on_selection_set"] is False
    only_dev = load_data(root, test_fraction=0)  # no test anywhere: the report would score dev, flagged
    assert only_dev.test is only_dev.eval and only_dev.stats["scored_on_selection_set"] is True


def test_beir_with_dev_but_no_test_qrels(tmp_path: Path) -> None:
    root = tmp_path / "beir_dev"
    shutil.copytree(FIXTURES / "beir_dev", root)
    (root / "qrels" / "test.tsv").unlink()
    data = load_data(root)
    assert data.stats["eval_source"] == "qrels/dev.tsv"
    assert data.test is not data.eval and not set(data.test.relevant) & set(data.eval.relevant)
    assert not set(data.test.queries.values()) & set(data.train["anchor"])


def test_no_split_keeps_every_row_and_has_no_test() -> None:
    data = load_data(FIXTURES / "pairs.jsonl", split=False)  # finetune with --eval-data
    assert data.eval is None and data.test is None
    assert len(data.train) == 21 and data.stats["test_source"] == "none"
