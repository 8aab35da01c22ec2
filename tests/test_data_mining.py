"""Hard-negative mining with the packaged MiniLM, and the `mrlkit data check` table."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from mrlkit.data import DataKind, describe, load_data, mine_negatives
from mrlkit.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures" / "data"


def _render(table: object) -> str:
    console = Console(record=True, width=160)
    console.print(table)
    return console.export_text()


def test_mine_negatives_adds_negative_column(minilm) -> None:
    data = load_data(FIXTURES / "pairs.jsonl", eval_fraction=0.1)
    mined = mine_negatives(data, minilm, range_min=0, range_max=10, relative_margin=0.05, batch_size=16)
    assert mined.train.column_names == ["anchor", "positive", "negative"]
    assert 0 < len(mined.train) <= len(data.train)
    rows = mined.train.to_list()
    assert all(r["negative"] != r["positive"] for r in rows)
    positives_of: dict[str, set[str]] = {}
    for anchor, positive in zip(data.train["anchor"], data.train["positive"], strict=True):
        positives_of.setdefault(anchor, set()).add(positive)
    assert all(r["negative"] not in positives_of[r["anchor"]] for r in rows)
    assert mined.stats["mining"]["rows_before"] == len(data.train)
    assert data.train.column_names == ["anchor", "positive"]  # the input is left untouched
    assert mined.eval is data.eval
    assert "mined negatives" in _render(describe(mined))


def test_mine_negatives_uses_beir_corpus(minilm) -> None:
    data = load_data(FIXTURES / "beir")
    mined = mine_negatives(data, minilm, range_min=0, range_max=5, relative_margin=None)
    corpus = set(data.test.corpus.values())
    assert mined.train.column_names == ["anchor", "positive", "negative"]
    assert len(mined.train) == len(data.train)
    assert all(r["negative"] in corpus and r["negative"] != r["positive"] for r in mined.train.to_list())


def test_mine_negatives_layouts_for_several_negatives(minilm) -> None:
    data = load_data(FIXTURES / "beir")
    corpus = set(data.test.corpus.values())
    kw = {"num_negatives": 2, "range_min": 0, "range_max": 5, "relative_margin": None}
    tuples = mine_negatives(data, minilm, layout="n-tuple", **kw)
    assert tuples.train.column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert len(tuples.train) == len(data.train)  # one row per pair, all negatives in it
    for r in tuples.train.to_list():
        assert r["negative_1"] != r["negative_2"]
        assert {r["negative_1"], r["negative_2"]} <= corpus - {r["positive"]}
    assert tuples.stats["mining"] == {
        "rows_before": len(data.train),
        "rows_after": len(data.train),
        "num_negatives": 2,
        "layout": "n-tuple",
        "mode": "add",  # BEIR pairs have no negatives of their own to keep
        "pairs_in": len(data.train),
        "pairs_mined": len(data.train),
        "pairs_dropped": 0,
        "user_negatives_replaced": 0,
    }
    assert "n-tuples" in _render(describe(tuples))
    triplets = mine_negatives(data, minilm, layout="triplet", **kw)
    assert triplets.train.column_names == ["anchor", "positive", "negative"]
    assert len(triplets.train) == 2 * len(data.train)  # one row per negative
    pairs = sorted((r["anchor"], r["negative"]) for r in triplets.train.to_list())
    expected = sorted((r["anchor"], r[f"negative_{i}"]) for r in tuples.train.to_list() for i in (1, 2))
    assert pairs == expected  # the same negatives, laid out differently
    with pytest.raises(DataError, match="unknown negatives layout 'wide'"):
        mine_negatives(data, minilm, layout="wide", **kw)


def test_mine_negatives_rejects_scored_data(minilm) -> None:
    data = load_data(FIXTURES / "scored.tsv", score_range=(0, 5))
    with pytest.raises(DataError, match=r"cannot mine negatives for scored data"):
        mine_negatives(data, minilm)


def test_mine_negatives_rejects_bad_ranges(minilm) -> None:
    data = load_data(FIXTURES / "pairs.jsonl")
    with pytest.raises(DataError, match=r"cannot mine 3 negative\(s\) from ranks 10\.\.11"):
        mine_negatives(data, minilm, num_negatives=3, range_min=10, range_max=11)


def test_mine_negatives_with_no_candidate_in_range_fails(minilm) -> None:
    data = load_data(FIXTURES / "pairs.jsonl")
    with pytest.raises(DataError, match=r"no candidate at ranks 500\.\.510 scoring 5% or more below") as err:
        mine_negatives(data, minilm, range_min=500, range_max=510)
    assert "pairs.jsonl" in str(err.value)


def test_describe_shows_counts_and_example() -> None:
    data = load_data(FIXTURES / "pairs.jsonl")
    text = _render(describe(data))
    for expected in (
        "kind",
        "pairs",
        "rows read",
        "22",
        "duplicates removed",
        "train rows",
        "dev set (selection)",
        "judgments",
    ):
        assert expected in text
    assert "test set (report)" in text and "(split: 0.1 of the anchors, seed 42)" in text
    assert "same as the dev set" not in text
    assert "anchor: " in text
    two_way = _render(describe(load_data(FIXTURES / "pairs.jsonl", test_fraction=0)))
    assert "same as the dev set: the report would score the selection set" in two_way


def test_describe_beir_and_scored() -> None:
    beir = _render(describe(load_data(FIXTURES / "beir")))
    assert "beir" in beir and "2 queries, 8 corpus docs, 3 judgments (qrels/test.tsv)" in beir
    scored = load_data(FIXTURES / "scored.tsv", score_range=(0, 5))
    assert scored.kind == DataKind.SCORED
    assert "scored pairs" in _render(describe(scored))
