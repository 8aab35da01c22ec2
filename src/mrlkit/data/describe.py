"""Summarise loaded data as a table (what ``mrlkit data check`` prints)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from mrlkit.data.splits import set_sizes
from mrlkit.data.types import EvalSet, TrainingData

_EXAMPLE_CHARS = 80


def describe(data: TrainingData) -> Table:
    """Return a two-column table: kind, source, row counts, columns, eval/test sizes and an example row."""
    stats = data.stats
    table = Table(title="mrlkit data check", show_header=True, header_style="bold")
    table.add_column("item", style="cyan", no_wrap=True)
    table.add_column("value")
    table.add_row("kind", data.kind.value)
    table.add_row("source", data.source)
    if "rows_read" in stats:
        table.add_row("rows read", f"{stats['rows_read']:,}")
    table.add_row("duplicates removed", f"{stats.get('duplicates_removed', 0):,}")
    table.add_row("train rows", f"{len(data.train):,}")
    table.add_row("columns", _columns(data.train.column_names, stats.get("columns", {})))
    table.add_row("dev set (selection)", _set_summary(data.eval, stats.get("eval_source")))
    if data.test is not None and data.test is data.eval:
        same = "[bold red]same as the dev set: the report would score the selection set[/]"
        table.add_row("test set (report)", same)
    else:
        table.add_row("test set (report)", _set_summary(data.test, stats.get("test_source")))
    if stats.get("unused_negatives"):
        table.add_row("negatives not trained on", f"{stats['unused_negatives']:,}")
    if stats.get("rows_cut_by_max_rows"):
        table.add_row("rows cut by max_rows", f"{stats['rows_cut_by_max_rows']:,}")
    if "mining" in stats:
        mining = stats["mining"]
        shape = "triplets" if mining["layout"] == "triplet" else "n-tuples"
        table.add_row(
            "mined negatives", f"{mining['rows_before']:,} rows -> {mining['rows_after']:,} {shape}"
        )
    for note in stats.get("notes", []):
        table.add_row("note", note)
    if len(data.train):
        table.add_row("example row", _example(data.train[0]))
    return table


def _columns(names: list[str], sources: dict[str, str]) -> str:
    return ", ".join(
        f"{name} <- {sources[name]}" if sources.get(name, name) != name else name for name in names
    )


def _set_summary(eval_set: EvalSet | None, source: str | None) -> str:
    if eval_set is None:
        return "none"
    sizes = set_sizes(eval_set)
    if "pairs" in sizes:
        text = f"{sizes['pairs']:,} scored pairs"
    else:
        text = (
            f"{sizes['queries']:,} queries, {sizes['corpus']:,} corpus docs, {sizes['judgments']:,} judgments"
        )
    return f"{text} ({source})" if source else text


def _example(row: dict[str, Any]) -> str:
    return "\n".join(f"{key}: {_shorten(value)}" for key, value in row.items())


def _shorten(value: object) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"
