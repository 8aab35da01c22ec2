"""Every row dropped or changed on the way to training is counted: loader, miner, row limits, truncation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import FIXTURES
from transformers import AutoTokenizer

from mrlkit import FinetuneConfig, finetune
from mrlkit.data import load_data, mine_negatives
from mrlkit.data.accounting import summary_lines, truncation_stats

LONG_A = "long " * 100  # 100 word pieces: over any max_seq_length of 64
LONG_B = "lengthy " * 90
QPN = [
    {
        "query": "query zero",
        "pos": ["pos zero"],
        "neg": ["neg zero a", "neg zero b", "neg zero c"],
    },  # 2 unused
    {"query": "query one", "pos": ["pos one a", "pos one b"], "neg": ["neg one"]},  # cycled: 0 unused
    {"query": "query two", "pos": ["pos two"], "neg": ["neg two a", "neg two b"]},  # 1 unused
    {"query": "query three", "pos": ["pos three"], "neg": ["neg three"]},
    {"query": "query four", "pos": [LONG_A], "neg": ["neg four"]},
    {"query": "query five", "pos": ["pos five"], "neg": [LONG_B]},
    {"query": "query three", "pos": ["pos three"], "neg": ["neg three"]},  # duplicate
    {"query": "query five", "pos": ["pos five"], "neg": [LONG_B]},  # duplicate
]
# pairs whose positives have a near-copy in the corpus: the best candidate is too close to be a negative
NEAR_COPIES = [
    ("Where is Paris?", "Paris is the capital of France.", "Spiders spin webs."),
    ("What is the capital of France?", "Paris is the capital of France!", "The sky is blue."),
    ("How many legs does a spider have?", "Spiders have eight legs.", "Paris is in Europe."),
    ("Count the legs of a spider.", "Spiders have eight legs!", "Bread is baked."),
    ("Why is the sky blue?", "Sunlight scatters off air molecules.", "Spiders have eight legs."),
    ("How is bread made?", "Bread is baked from flour, water and yeast.", "The sky is blue."),
    ("Which city is the capital of France?", "Paris is the capital of France?", "Bread is baked."),
]
# two near-copies each for the Paris pairs: sentence-transformers >= 6.3 looks one candidate past range_max


def _qpn(tmp_path: Path) -> Path:
    path = tmp_path / "qpn.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in QPN))
    return path


def test_loader_counts_duplicates_and_negatives_that_never_train(tmp_path: Path) -> None:
    data = load_data(_qpn(tmp_path), split=False)
    assert data.stats["rows_read"] == 8 and data.stats["rows"] == 9  # one row per positive
    assert data.stats["duplicates_removed"] == 2
    assert data.stats["unused_negatives"] == 3
    assert len(data.train) == 7
    assert "3 negative(s) are not trained on" in data.stats["notes"][0]


def test_all_negatives_unused_when_a_query_has_none(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    rows = [{"query": "a", "pos": ["p"], "neg": ["n1", "n2"]}, {"query": "b", "pos": ["q"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_data(path, split=False)
    assert data.train.column_names == ["anchor", "positive"]
    assert data.stats["unused_negatives"] == 2


def test_beir_row_limit_cut_is_counted() -> None:
    data = load_data(FIXTURES / "data" / "beir_dev", max_rows=2)
    assert len(data.train) == 2 and data.stats["rows_cut_by_max_rows"] == 3  # of 5 relevant train pairs
    assert load_data(FIXTURES / "data" / "beir_dev").stats["rows_cut_by_max_rows"] == 0


def test_truncation_counts_distinct_texts_over_the_limit(minilm_path: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    texts = ["short text", LONG_A, "word " * 14, "word " * 15, LONG_A]  # 14 words + [CLS] [SEP] = 16 tokens
    stats = truncation_stats(tokenizer, texts, max_length=16, batch_size=2)
    assert stats == {"max_seq_length": 16, "texts": 4, "truncated": 2, "share": 0.5}
    assert truncation_stats(tokenizer, [], max_length=16)["truncated"] == 0


def _triplets(tmp_path: Path) -> Path:
    path = tmp_path / "near.csv"
    pd.DataFrame(NEAR_COPIES, columns=["anchor", "positive", "negative"]).to_csv(path, index=False)
    return path


def test_mining_counts_dropped_pairs_and_add_keeps_user_negatives(minilm, tmp_path: Path) -> None:
    data = load_data(_triplets(tmp_path), split=False)
    user = data.train.to_list()
    kw = {"range_min": 0, "range_max": 1, "relative_margin": 0.05, "batch_size": 8}
    replaced = mine_negatives(data, minilm, mode="replace", **kw)
    stats = replaced.stats["mining"]
    n = len(NEAR_COPIES)
    out_pairs = set(zip(replaced.train["anchor"], replaced.train["positive"], strict=True))
    assert stats["pairs_in"] == n and stats["pairs_dropped"] == n - len(out_pairs)
    assert stats["pairs_dropped"] >= 1  # near-copies outrank every real negative for some pairs
    assert stats["user_negatives_replaced"] == n
    assert f"{n} of your negatives replaced by mined ones" in "\n".join(
        summary_lines({**_empty_accounting(), "hard_negatives": stats})
    )

    added = mine_negatives(data, minilm, mode="add", **kw)
    rows = [tuple(r.values()) for r in added.train.to_list()]
    user_rows = [tuple(r.values()) for r in user]
    assert rows[:n] == user_rows  # every user row kept, as it was
    assert set(rows[n:]) == {tuple(r.values()) for r in replaced.train.to_list()} - set(user_rows)
    assert (
        added.stats["mining"]["pairs_dropped"] == 0 and added.stats["mining"]["user_negatives_replaced"] == 0
    )

    tuples = mine_negatives(data, minilm, mode="add", layout="n-tuple", **kw)
    assert tuples.train.column_names == ["anchor", "positive", "negative_1", "negative_2"]
    assert [r["negative_1"] for r in tuples.train.to_list()] == [
        r["negative"] for r in user if (r["anchor"], r["positive"]) in out_pairs
    ]
    assert tuples.stats["mining"]["pairs_dropped"] == stats["pairs_dropped"]  # no room for a short tuple


def _empty_accounting() -> dict:
    return {
        "kind": "triplets",
        "rows_read": 6,
        "rows": 6,
        "duplicates_removed": 0,
        "dev_rows": 0,
        "test_rows": 0,
        "negatives_not_trained": 0,
        "rows_cut_by_max_rows": 0,
        "rows_cut_by_max_train_rows": 0,
        "hard_negatives": None,
        "truncation": None,
        "train_rows": 6,
    }


def test_finetune_reports_exactly_what_trained(tiny_model_path: str, tmp_path: Path) -> None:
    """Duplicates, unused negatives and over-long texts of a query-pos-neg file, in report.json and .md."""
    printed: list[list[str]] = []
    cfg = FinetuneConfig.load(
        None,
        data=str(_qpn(tmp_path)),
        eval_data=str(FIXTURES / "data" / "pairs.jsonl"),  # every row of the file trains
        model=tiny_model_path,  # max_seq_length 64
        output_dir=str(tmp_path / "out"),
        epochs=1,
        batch_size=8,
        eval_batch_size=16,
    )
    result = finetune(cfg, on_data_ready=printed.append)
    accounting = json.loads((tmp_path / "out" / "report.json").read_text())["meta"]["data_accounting"]
    # 6 queries + 7 positives + 6 negatives in the 7 rows; LONG_A and LONG_B exceed 64 tokens
    truncation = {"max_seq_length": 64, "texts": 19, "truncated": 2, "share": pytest.approx(2 / 19)}
    assert accounting == {
        "source": str(tmp_path / "qpn.jsonl"),
        "kind": "query-pos-neg",
        "rows_read": 8,
        "rows": 9,
        "duplicates_removed": 2,
        "dev_rows": 0,
        "test_rows": 0,
        "dev_source": str(FIXTURES / "data" / "pairs.jsonl"),
        "test_source": f"the dev set ({FIXTURES / 'data' / 'pairs.jsonl'})",
        "negatives_not_trained": 3,
        "rows_cut_by_max_rows": 0,
        "rows_cut_by_max_train_rows": 0,
        "hard_negatives": None,
        "teacher": None,
        "truncation": truncation,
        "train_rows": 7,
    }
    assert printed == [summary_lines(result.report.meta["data_accounting"])]
    assert (
        printed[0][0] == "read 8 records (query-pos-neg) -> 9 rows, one per positive; duplicates removed: 2"
    )
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert markdown.startswith(
        "> **WARNING: these scores are on the selection set"
    )  # eval_data, no test_data
    assert "## Data" in markdown
    assert (
        "- 2 of 19 distinct training texts (10.5%) exceed max_seq_length 64 tokens and are truncated"
        in markdown
    )
    assert "- 3 negatives in the file never train (more than positives)" in markdown
    assert "- trains on 7 rows" in markdown
    held = (
        f"- held out: 0 rows for dev (selection), 0 for test; dev (selection): {cfg.eval_data}; test: the dev"
    )
    assert held in markdown
