"""Training output: a progress bar with the loss, one line per evaluation, every metric in metrics.jsonl.

transformers' ``ProgressCallback`` writes each log as a raw dict under the bar: about 70 keys per
evaluation (every metric at every dim). :class:`CompactProgress` replaces it: the loss goes into the
bar's postfix, and an evaluation prints one line with the main metric per dim, the dim that picks
the checkpoint starred, and ``(best)`` when this evaluation is the best so far. :class:`MetricsFile`
appends every log, unabridged, to ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ProgressCallback

_EVAL_KEY = re.compile(r"^eval_(?:(?P<name>.+)_)?dim(?P<dim>\d+)_(?P<metric>.+)$")


def evaluation_line(logs: dict[str, Any], metric: str, primary_dim: int | None, best: bool) -> str | None:
    """One line for an evaluation's logs: ``metric`` at each dim, largest dim first.

    Args:
        logs: The trainer's evaluation logs (``eval_{name}_dim{d}_{metric}`` keys, ``epoch``).
        metric: The main metric, e.g. ``ndcg@10`` or ``spearman``.
        primary_dim: The dim that picks the checkpoint; starred in the line.
        best: Whether this evaluation is the best so far.

    Returns:
        The line, or ``None`` when ``logs`` hold no per-dim value of ``metric``.
    """
    scores: dict[int, float] = {}
    name = ""
    for key, value in logs.items():
        match = _EVAL_KEY.match(key)
        if match and match["metric"] == metric and isinstance(value, (int, float)):
            scores[int(match["dim"])] = float(value)
            name = match["name"] or ""
    if not scores:
        return None
    cells = "  ".join(
        f"{'*' if d == primary_dim else ''}{d}: {scores[d]:.4f}" for d in sorted(scores, reverse=True)
    )
    epoch = logs.get("epoch")
    head = f"epoch {epoch:g}" if isinstance(epoch, (int, float)) else "eval"
    return f"{head}  {name or 'eval'} {metric}  {cells}{'  (best)' if best else ''}"


class CompactProgress(ProgressCallback):
    """The trainer's progress bar, with the loss in its postfix and one line per evaluation."""

    def __init__(self, metric: str, primary_dim: int | None, best_key: str | None) -> None:
        """Print ``metric`` per dim at each evaluation; ``best_key`` (a logs key) decides "best so far"."""
        super().__init__()
        self.metric = metric
        self.primary_dim = primary_dim
        self.best_key = best_key
        self.best: float | None = None

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Open the bar; a resumed run starts from the checkpoint's best metric."""
        super().on_train_begin(args, state, control, **kwargs)
        self.best = state.best_metric

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Loss into the bar; an evaluation as one line; the end-of-training summary as one line."""
        if not state.is_world_process_zero or self.training_bar is None or not logs:
            return
        if "loss" in logs:
            self.training_bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)
        if self.best_key is not None and self.best_key in logs:
            value = float(logs[self.best_key])
            is_best = self.best is None or value > self.best
            self.best = value if is_best else self.best
            line = evaluation_line(logs, self.metric, self.primary_dim, is_best)
            if line is not None:
                self.training_bar.write(line)
        if "train_runtime" in logs:
            loss = logs.get("train_loss")
            loss_text = f", mean loss {loss:.4f}" if isinstance(loss, (int, float)) else ""
            self.training_bar.write(f"trained in {logs['train_runtime']:.0f} s{loss_text}")


class MetricsFile(TrainerCallback):
    """Append every log (loss lines and full evaluations) to ``path`` as one JSON object per line."""

    def __init__(self, path: str | Path, fresh: bool = True) -> None:
        """``fresh``: start the file anew when training starts (a resumed run appends)."""
        self.path = Path(path)
        self.fresh = fresh

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Empty the file for a fresh run."""
        if self.fresh and state.is_world_process_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("", encoding="utf-8")

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Append ``{"step", "epoch", **logs}``."""
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": state.epoch, **logs}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


def install_training_output(
    trainer: Any,  # noqa: ANN401
    metrics_path: Path,
    metric: str | None,
    primary_dim: int | None,
    best_key: str | None,
    fresh: bool,
) -> None:
    """Swap the trainer's raw-dict progress callback for :class:`CompactProgress`; add :class:`MetricsFile`.

    With ``disable_tqdm`` the trainer has no ``ProgressCallback`` and its own printer stays as it is.
    """
    if any(isinstance(cb, ProgressCallback) for cb in trainer.callback_handler.callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(CompactProgress(metric or "ndcg@10", primary_dim, best_key))
    trainer.add_callback(MetricsFile(metrics_path, fresh=fresh))
