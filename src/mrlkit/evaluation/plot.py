"""PNG of a metric versus embedding dim for the base and tuned models (headless, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mrlkit.evaluation.metrics import metric_label

if TYPE_CHECKING:
    from mrlkit.evaluation.report import Report

BASE_COLOUR = "#7f7f7f"
TUNED_COLOUR = "#1f77b4"


def plot_metric_vs_dim(report: Report, path: str | Path, metric: str | None = None) -> Path:
    """Draw ``metric`` against dim (log2 axis, a tick per evaluated dim) and save it as a PNG.

    The figure is drawn on its own Agg canvas, so it needs no display and leaves pyplot's global state
    alone. With a tuned model, each tuned point is labelled with its gain in points.

    Args:
        report: The report to draw.
        path: Output file (``.png``); its folder must exist.
        metric: Metric name; defaults to the report's main metric.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    metric = report.resolve_metric(metric)
    gains = report.gain(metric) if report.tuned is not None else None
    dims = sorted(report.dims)
    label = metric_label(metric)

    figure = Figure(figsize=(7.0, 4.2), dpi=150, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    base = [report.base[dim][metric] for dim in dims]
    axes.plot(dims, base, marker="o", color=BASE_COLOUR, linestyle="--", label=report.first_label)
    if report.tuned is not None and gains is not None:
        tuned = [report.tuned[dim][metric] for dim in dims]
        axes.plot(dims, tuned, marker="o", color=TUNED_COLOUR, linewidth=2, label="tuned (Matryoshka)")
        for dim, value in zip(dims, tuned, strict=True):
            axes.annotate(
                f"{gains[dim]:+.1f}",
                (dim, value),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=8,
                color=TUNED_COLOUR,
            )

    axes.set_xscale("log", base=2)
    axes.set_xticks(dims)
    axes.set_xticklabels([str(dim) for dim in dims])
    axes.xaxis.set_minor_locator(NullLocator())
    axes.margins(y=0.12)
    axes.set_xlabel("embedding dimension (truncated)")
    axes.set_ylabel(label)
    title = f"{label} vs embedding dimension"
    if report.tuned is not None:
        title += " (labels: gain in points)"
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="best")

    out = Path(path)
    figure.savefig(out)
    return out
