"""The base-versus-tuned report: scores per dim, retention, gain, and its Markdown/JSON/PNG files."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mrlkit.errors import ConfigError, DataError
from mrlkit.evaluation.base import check_dims
from mrlkit.evaluation.metrics import MAIN_METRIC, Task

if TYPE_CHECKING:
    from rich.table import Table

Scores = dict[int, dict[str, float]]
Which = Literal["base", "tuned"]

SELECTION_WARNING = (
    "WARNING: these scores are on the selection set: the dev set that picked the best checkpoint "
    "(and adaptor epoch) is the set scored here, so the tuned scores are biased upwards. "
    "For an unbiased report pass --test-data, or drop --eval-data and keep --test-fraction above 0."
)


@dataclass
class Report:
    """Scores of a base model and (optionally) its fine-tuned version at every Matryoshka dim.

    Attributes:
        task: ``"ir"`` or ``"sts"`` (a :class:`~mrlkit.evaluation.metrics.Task` is accepted too).
        dims: Evaluated dims; stored largest first, the largest being the "full" dim of retention.
        base: ``{dim: {metric: value}}`` of the base model, as returned by ``evaluate_dims``.
        tuned: Same for the fine-tuned model, or ``None`` for a base-only report (``mrlkit evaluate``).
        meta: Free-form run details (model names, data path, eval set size, training settings, machine,
            timings); nested dicts are shown with dotted keys in the Markdown. ``scored_on_selection_set:
            True`` puts :data:`SELECTION_WARNING` first in every rendering; ``data_accounting`` (from
            :func:`~mrlkit.data.accounting.data_accounting`) becomes the Markdown's "Data" section.

    """

    task: str
    dims: list[int]
    base: Scores
    tuned: Scores | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            self.task = Task(self.task).value
        except ValueError:
            choices = ", ".join(repr(t.value) for t in Task)
            raise ConfigError(f"report task {self.task!r} is unknown; use one of {choices}") from None
        self.dims = check_dims(self.dims)
        _check_scores("base", self.base, self.dims)
        if self.tuned is not None:
            _check_scores("tuned", self.tuned, self.dims)

    @property
    def main_metric(self) -> str:
        """The headline metric: ``"ndcg@10"`` for retrieval, ``"spearman"`` for similarity."""
        return MAIN_METRIC[Task(self.task)]

    @property
    def scored_on_selection_set(self) -> bool:
        """Whether the scores come from the set that also selected the model (biased upwards)."""
        return bool(self.meta.get("scored_on_selection_set"))

    @property
    def first_label(self) -> str:
        """Whose scores ``base`` holds: ``"base"``, or ``"tuned"`` in a finetune run without a base run."""
        return "base" if self.tuned is not None else str(self.meta.get("scores_of", "base"))

    @property
    def full_dim(self) -> int:
        """The largest evaluated dim, the reference of :meth:`retention`."""
        return self.dims[0]

    @property
    def metrics(self) -> list[str]:
        """Metric names present in the report, in evaluator order."""
        return list(self.base[self.full_dim])

    def scores(self, which: Which) -> Scores:
        """Return the scores of one model.

        Args:
            which: ``"base"`` or ``"tuned"``.

        Returns:
            ``{dim: {metric: value}}``.

        Raises:
            ConfigError: If ``which`` is unknown, or is ``"tuned"`` in a base-only report.

        """
        if which == "base":
            return self.base
        if which != "tuned":
            raise ConfigError(f"which={which!r} is unknown; use 'base' or 'tuned'")
        if self.tuned is None:
            raise ConfigError("this report has no tuned model; evaluate one with `mrlkit finetune` first")
        return self.tuned

    def retention(self, which: Which = "base", metric: str | None = None) -> dict[int, float]:
        """Score at each dim as a percentage of the same model's score at the full dim.

        Args:
            which: ``"base"`` or ``"tuned"``.
            metric: Metric name; defaults to :attr:`main_metric`.

        Returns:
            ``{dim: percent}`` (100 at the full dim; NaN if the full-dim score is 0).

        """
        metric = self.resolve_metric(metric)
        scores = self.scores(which)
        full = scores[self.full_dim][metric]
        return {dim: 100.0 * scores[dim][metric] / full if full else math.nan for dim in self.dims}

    def gain(self, metric: str | None = None) -> dict[int, float]:
        """Tuned minus base at each dim, in points (the difference multiplied by 100).

        Args:
            metric: Metric name; defaults to :attr:`main_metric`.

        Returns:
            ``{dim: points}``; e.g. 0.52 vs 0.45 gives 7.0.

        """
        metric = self.resolve_metric(metric)
        tuned = self.scores("tuned")
        return {dim: 100.0 * (tuned[dim][metric] - self.base[dim][metric]) for dim in self.dims}

    def resolve_metric(self, metric: str | None) -> str:
        """Check a metric name, defaulting to :attr:`main_metric`.

        Args:
            metric: A metric name or ``None``.

        Returns:
            The metric name.

        Raises:
            ConfigError: If the report does not hold that metric.

        """
        metric = metric or self.main_metric
        if metric not in self.base[self.full_dim]:
            raise ConfigError(
                f"metric {metric!r} is not in the report; choose one of {', '.join(self.metrics)}"
            )
        return metric

    def to_dict(self) -> dict[str, Any]:
        """Convert to a JSON-safe dict: dim keys as strings (``"384"``), plus a main-metric summary.

        Returns:
            The report; :meth:`from_dict` reads it back (``summary`` and ``warning`` are derived and
            ignored there). ``scored_on_selection_set`` comes first, copied from ``meta``.

        """
        summary: dict[str, Any] = {
            "metric": self.main_metric,
            "base_retention": _str_keys(self.retention("base")),
        }
        if self.tuned is not None:
            summary["tuned_retention"] = _str_keys(self.retention("tuned"))
            summary["gain"] = _str_keys(self.gain())
        return {
            "scored_on_selection_set": self.scored_on_selection_set,
            "warning": SELECTION_WARNING if self.scored_on_selection_set else None,
            "task": self.task,
            "dims": list(self.dims),
            "main_metric": self.main_metric,
            "base": _str_keys(self.base),
            "tuned": None if self.tuned is None else _str_keys(self.tuned),
            "summary": summary,
            "meta": json_safe(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report written by :meth:`to_dict`.

        Args:
            data: The dict (e.g. parsed ``report.json``).

        Returns:
            The report.

        Raises:
            DataError: If a required key is missing.

        """
        missing = [key for key in ("task", "dims", "base") if key not in data]
        if missing:
            raise DataError(
                f"report data lacks {', '.join(missing)}", fix="Pass a dict written by Report.to_dict()."
            )
        tuned = data.get("tuned")
        return cls(
            task=data["task"],
            dims=[int(d) for d in data["dims"]],
            base=_int_keys(data["base"]),
            tuned=None if tuned is None else _int_keys(tuned),
            meta=dict(data.get("meta") or {}),
        )

    @classmethod
    def load(cls, path: str | Path) -> Report:
        """Read a ``report.json`` written by :meth:`save`.

        Args:
            path: The JSON file.

        Returns:
            The report.

        """
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def to_markdown(self) -> str:
        """Markdown: headline table of the main metric, one full table per model, then the run details.

        Returns:
            The document text.

        """
        from mrlkit.evaluation.render import report_markdown

        return report_markdown(self)

    def rich_table(self, metric: str | None = None) -> Table:
        """Compact base-versus-tuned table for the terminal.

        Args:
            metric: Metric name; defaults to :attr:`main_metric`.

        Returns:
            A :class:`rich.table.Table`.

        """
        from mrlkit.evaluation.render import report_rich_table

        return report_rich_table(self, self.resolve_metric(metric))

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.md``, ``report.json`` and ``report.png`` (main metric versus dim).

        Args:
            out_dir: Folder, created if missing.

        Returns:
            ``{"markdown": path, "json": path, "plot": path}``.

        """
        from mrlkit.evaluation.plot import plot_metric_vs_dim

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"markdown": out / "report.md", "json": out / "report.json", "plot": out / "report.png"}
        paths["markdown"].write_text(self.to_markdown(), encoding="utf-8")
        paths["json"].write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        plot_metric_vs_dim(self, paths["plot"])
        return paths


def json_safe(value: Any) -> Any:
    """Convert ``value`` to plain JSON types (paths and unknown objects become strings).

    Args:
        value: Any meta value: dicts, lists, paths, enums, dataclasses, numpy scalars, dates...

    Returns:
        The same content built from dict, list, str, int, float, bool and None.

    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [json_safe(item) for item in items]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _str_keys(scores: dict[int, Any]) -> dict[str, Any]:
    return {str(dim): json_safe(row) for dim, row in scores.items()}


def _int_keys(scores: dict[str, dict[str, Any]]) -> Scores:
    return {int(dim): {metric: float(value) for metric, value in row.items()} for dim, row in scores.items()}


def _check_scores(which: str, scores: Scores, dims: list[int]) -> None:
    missing = [dim for dim in dims if dim not in scores]
    if missing:
        raise DataError(
            f"{which} scores lack dims {missing} (have {sorted(scores, reverse=True)})",
            fix="Evaluate the model at every dim of the report.",
        )
