"""What happened to every row between the user's file and the trainer: counts and a short summary.

:func:`data_accounting` gathers the counts the loader, the split, the row limit and the miner left in
``TrainingData.stats``, plus how many training texts are longer than the model's ``max_seq_length``
(:func:`truncation_stats`). :func:`summary_lines` turns them into the few lines ``mrlkit finetune``
prints before training and report.md shows under "Data".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mrlkit.data.types import LABEL_COLUMNS, TrainingData


def truncation_stats(
    tokenizer: Callable[..., Any], texts: Iterable[str], max_length: int, batch_size: int = 1024
) -> dict[str, Any]:
    """Count the distinct texts whose token count (with special tokens) exceeds ``max_length``.

    Texts are tokenized in batches without padding or truncation, so the cost is one tokenizer pass.

    Args:
        tokenizer: The model's tokenizer.
        texts: Training texts; repeats are counted once.
        max_length: The model's ``max_seq_length``: longer inputs are cut to it when encoded.
        batch_size: Texts per tokenizer call.

    Returns:
        ``{"max_seq_length", "texts", "truncated", "share"}`` (share in [0, 1]).

    """
    unique = list(dict.fromkeys(texts))
    truncated = 0
    for start in range(0, len(unique), batch_size):
        encoded = tokenizer(
            unique[start : start + batch_size],
            add_special_tokens=True,
            truncation=False,
            padding=False,
            verbose=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        truncated += sum(len(ids) > max_length for ids in encoded["input_ids"])
    share = truncated / len(unique) if unique else 0.0
    return {"max_seq_length": max_length, "texts": len(unique), "truncated": truncated, "share": share}


def text_cells(data: TrainingData) -> list[str]:
    """Every text cell of the training rows (all columns but ``score`` and a teacher's ``label``)."""
    columns = [c for c in data.train.column_names if c not in LABEL_COLUMNS]
    return [text for column in columns for text in data.train[column]]


def data_accounting(data: TrainingData, truncation: dict[str, Any] | None) -> dict[str, Any]:
    """Collect every count of rows dropped, held out, cut or changed on the way to training.

    Args:
        data: The training data as it will train (after the row limit and mining).
        truncation: :func:`truncation_stats` of its texts, or ``None`` when not measured.

    Returns:
        A JSON-safe dict for ``report.json``'s ``meta["data_accounting"]``; zero counts are kept so that
        a reader sees they were checked.

    """
    stats = data.stats
    accounting: dict[str, Any] = {
        "source": data.source,
        "kind": data.kind.value,
        "rows_read": stats.get("rows_read"),
        "rows": stats.get("rows", stats.get("rows_read")),
        "duplicates_removed": stats.get("duplicates_removed", 0),
        "dev_rows": stats.get("eval_rows", 0),
        "test_rows": stats.get("test_rows", 0),
        "dev_source": stats.get("eval_source"),
        "test_source": stats.get("test_source"),
        "negatives_not_trained": stats.get("unused_negatives", 0),
        "rows_cut_by_max_rows": stats.get("rows_cut_by_max_rows", 0),
        "rows_cut_by_max_train_rows": stats.get("rows_cut_by_max_train_rows", 0),
        "hard_negatives": stats.get("mining"),
        "teacher": stats.get("teacher"),
        "truncation": truncation,
        "train_rows": len(data.train),
    }
    if "positive_pairs" in stats:  # BEIR: judgments with score 0 are not training pairs
        accounting["judgments_not_positive"] = int(stats["rows_read"]) - int(stats["positive_pairs"])
        accounting["empty_docs_skipped"] = stats.get("empty_docs_skipped", 0)
    return accounting


def summary_lines(accounting: dict[str, Any]) -> list[str]:
    """A few lines a user reads before training starts (and report.md's "Data" section)."""
    a = accounting
    read = f"read {_n(a['rows_read'])} rows ({a['kind']})"
    if a["rows"] != a["rows_read"]:
        read = f"read {_n(a['rows_read'])} records ({a['kind']}) -> {_n(a['rows'])} rows, one per positive"
    read += f"; duplicates removed: {_n(a['duplicates_removed'])}"
    if a.get("judgments_not_positive"):
        read += f"; {_n(a['judgments_not_positive'])} judgments with score 0 are not training pairs"
    if a.get("empty_docs_skipped"):
        read += f"; {_n(a['empty_docs_skipped'])} pairs with an empty doc skipped"
    held = f"held out: {_n(a['dev_rows'])} rows for dev (selection), {_n(a['test_rows'])} for test"
    if not a["dev_rows"]:
        held += f"; dev (selection): {a.get('dev_source')}"
    if not a["test_rows"]:
        held += f"; test: {a.get('test_source')}"
    lines = [read, held]
    cuts = [(a["rows_cut_by_max_rows"], "max_rows"), (a["rows_cut_by_max_train_rows"], "max_train_rows")]
    lines += [f"{_n(n)} rows cut by {name}" for n, name in cuts if n]
    if a["negatives_not_trained"]:
        lines.append(
            f"{_n(a['negatives_not_trained'])} negatives in the file never train (more than positives)"
        )
    mining = a.get("hard_negatives")
    if mining:
        k = mining["num_negatives"]
        short = (
            f"fewer than {k} mined negatives"
            if mining["layout"] == "n-tuple" and k > 1
            else "no mined negative"
        )
        line = (
            f"hard negatives ({mining['mode']}, {mining['layout']}): {_n(mining['pairs_dropped'])} of "
            f"{_n(mining['pairs_in'])} pairs dropped ({short})"
        )
        if mining["user_negatives_replaced"]:
            line += f"; {_n(mining['user_negatives_replaced'])} of your negatives replaced by mined ones"
        lines.append(line)
    teacher = a.get("teacher")
    if teacher:
        lines.append(
            f"teacher {teacher['model']} scored {_n(teacher['pairs_scored'])} (query, text) pairs: "
            f"mean margin {teacher['mean_margin']:g}, {_n(teacher['negatives_above_positive'])} "
            "negatives above their positive"
        )
    truncation = a.get("truncation")
    if truncation:
        lines.append(
            f"{_n(truncation['truncated'])} of {_n(truncation['texts'])} distinct training texts "
            f"({truncation['share']:.1%}) exceed max_seq_length {truncation['max_seq_length']} tokens "
            "and are truncated"
        )
    lines.append(f"trains on {_n(a['train_rows'])} rows")
    return lines


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"
