"""Evaluation stage: metrics at every Matryoshka dim, the base-versus-tuned report and its plot."""

from mrlkit.evaluation.evaluate import build_evaluator, evaluate_model
from mrlkit.evaluation.ir import MatryoshkaIREvaluator
from mrlkit.evaluation.metrics import IR_METRICS, STS_METRICS, Task, metric_label
from mrlkit.evaluation.plot import plot_metric_vs_dim
from mrlkit.evaluation.report import Report
from mrlkit.evaluation.sts import MatryoshkaSTSEvaluator

__all__ = [
    "IR_METRICS",
    "STS_METRICS",
    "MatryoshkaIREvaluator",
    "MatryoshkaSTSEvaluator",
    "Report",
    "Task",
    "build_evaluator",
    "evaluate_model",
    "metric_label",
    "plot_metric_vs_dim",
]
