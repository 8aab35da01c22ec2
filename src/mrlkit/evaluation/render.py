"""Text renderings of a :class:`~mrlkit.evaluation.report.Report`: Markdown and a rich terminal table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mrlkit.evaluation.metrics import Task, metric_label

if TYPE_CHECKING:
    from rich.table import Table

    from mrlkit.evaluation.report import Report, Scores

_TASK_TITLES = {Task.IR.value: "retrieval", Task.STS.value: "semantic similarity"}


def report_markdown(report: Report) -> str:
    """Markdown of a report: headline table, one full table per model, run details.

    Args:
        report: The report.

    Returns:
        The document text, ending with a newline.

    """
    from mrlkit.evaluation.report import SELECTION_WARNING

    label = metric_label(report.main_metric)
    lines = [f"> **{SELECTION_WARNING}**", ""] if report.scored_on_selection_set else []
    lines += [
        f"# mrlkit report: Matryoshka {_TASK_TITLES[report.task]} evaluation",
        "",
        f"Main metric: **{label}**. *Retention* is the score as a % of the same model's score at the full "
        f"dim ({report.full_dim})."
        + (" *Gain* is tuned minus base in points (×100)." if report.tuned is not None else ""),
        "",
        *_table(_headline_header(report, label), _headline_rows(report)),
        "",
        f"## All metrics: {'base' if report.tuned is not None else report.first_label} model",
        "",
        *_scores_table(report.base, report.metrics),
    ]
    if report.tuned is not None:
        lines += ["", "## All metrics: tuned model", "", *_scores_table(report.tuned, report.metrics)]
    accounting = report.meta.get("data_accounting")
    if accounting:
        from mrlkit.data.accounting import summary_lines

        lines += ["", "## Data", "", *(f"- {line}" for line in summary_lines(accounting))]
    meta = {key: value for key, value in report.meta.items() if key != "data_accounting"}
    if meta:
        details = [[f"`{key}`", _cell(value)] for key, value in _flatten(meta)]
        lines += ["", "## Run details", "", *_table(["key", "value"], details, align=("l", "l"))]
    return "\n".join(lines) + "\n"


def _headline_header(report: Report, label: str) -> list[str]:
    if report.tuned is None:
        name = report.first_label
        return ["dim", f"{name} {label}", f"{name} retention %"]
    return ["dim", f"base {label}", f"tuned {label}", "gain", "base retention %", "tuned retention %"]


def _headline_rows(report: Report) -> list[list[str]]:
    metric = report.main_metric
    base_retention = report.retention("base")
    rows = []
    if report.tuned is None:
        for dim in report.dims:
            rows.append([str(dim), _score(report.base[dim][metric]), _percent(base_retention[dim])])
        return rows
    gain = report.gain()
    tuned_retention = report.retention("tuned")
    for dim in report.dims:
        rows.append(
            [
                str(dim),
                _score(report.base[dim][metric]),
                _score(report.tuned[dim][metric]),
                f"{gain[dim]:+.2f}",
                _percent(base_retention[dim]),
                _percent(tuned_retention[dim]),
            ]
        )
    return rows


def _scores_table(scores: Scores, metrics: Sequence[str]) -> list[str]:
    header = ["dim", *(metric_label(metric) for metric in metrics)]
    rows = [
        [str(dim), *(_score(row.get(metric, math.nan)) for metric in metrics)] for dim, row in scores.items()
    ]
    return _table(header, rows)


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None
) -> list[str]:
    align = align or ["r"] * len(header)
    rule = ["---:" if side == "r" else ":---" for side in align]
    return ["| " + " | ".join(cells) + " |" for cells in (header, rule, *rows)]


def _score(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4f}"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _flatten(meta: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for key, value in meta.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            items += _flatten(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple, set)):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def report_rich_table(report: Report, metric: str) -> Table:
    """Compact base-versus-tuned table of one metric for the terminal.

    Args:
        report: The report.
        metric: A metric name present in the report.

    Returns:
        A :class:`rich.table.Table` with one row per dim.

    """
    from rich.table import Table

    from mrlkit.evaluation.report import SELECTION_WARNING

    label = metric_label(metric)
    title = f"{label} by dimension"
    if report.scored_on_selection_set:
        title = f"[bold red]{SELECTION_WARNING}[/bold red]\n{title}"
    table = Table(title=title, caption=_caption(report))
    table.add_column("dim", justify="right", style="bold")
    table.add_column(report.first_label, justify="right")
    base_retention = report.retention("base", metric)
    if report.tuned is None:
        table.add_column("retention %", justify="right")
        for dim in report.dims:
            table.add_row(str(dim), _score(report.base[dim][metric]), _percent(base_retention[dim]))
        return table
    for name in ("tuned", "gain", "base ret. %", "tuned ret. %"):
        table.add_column(name, justify="right")
    gain = report.gain(metric)
    tuned_retention = report.retention("tuned", metric)
    for dim in report.dims:
        colour = "green" if gain[dim] > 0 else "red" if gain[dim] < 0 else "white"
        table.add_row(
            str(dim),
            _score(report.base[dim][metric]),
            _score(report.tuned[dim][metric]),
            f"[{colour}]{gain[dim]:+.2f}[/{colour}]",
            _percent(base_retention[dim]),
            _percent(tuned_retention[dim]),
        )
    return table


def _caption(report: Report) -> str:
    text = f"retention: % of the full-dim ({report.full_dim}) score"
    return text + "; gain: tuned - base in points (x100)" if report.tuned is not None else text
