"""Training output: one line per evaluation, the loss in the bar, every metric in metrics.jsonl."""

import json
import sys

import pytest
from conftest import FIXTURES
from transformers import TrainerControl, TrainerState, TrainingArguments

from mrlkit import FinetuneConfig, finetune
from mrlkit.config import LossKind
from mrlkit.errors import MissingExtraError
from mrlkit.training.args import check_report_to, training_arguments
from mrlkit.training.progress import CompactProgress, evaluation_line

LOGS = {
    "eval_dev_dim64_ndcg@10": 0.51234,
    "eval_dev_dim64_mrr@10": 0.6,
    "eval_dev_dim32_ndcg@10": 0.40001,
    "eval_dev_dim32_mrr@10": 0.5,
    "eval_runtime": 1.2,
    "epoch": 2.0,
}


def test_evaluation_line_shows_the_main_metric_per_dim_star_and_best():
    line = evaluation_line(LOGS, "ndcg@10", primary_dim=32, best=True)
    assert line == "epoch 2  dev ndcg@10  64: 0.5123  *32: 0.4000  (best)"
    assert evaluation_line(LOGS, "mrr@10", 64, best=False) == "epoch 2  dev mrr@10  *64: 0.6000  32: 0.5000"
    assert evaluation_line({"loss": 1.0}, "ndcg@10", 32, best=False) is None


class _Bar:
    def __init__(self):
        self.lines, self.postfix = [], None

    def write(self, text):
        self.lines.append(text)

    def set_postfix(self, refresh=True, **kw):
        self.postfix = kw

    def close(self):
        pass


def test_compact_progress_marks_only_improvements(tmp_path):
    cb = CompactProgress("ndcg@10", 32, "eval_dev_dim32_ndcg@10")
    state, control = TrainerState(), TrainerControl()
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    cb.training_bar = _Bar()
    cb.on_log(args, state, control, logs={"loss": 1.23456, "learning_rate": 1e-5, "epoch": 0.5})
    assert cb.training_bar.postfix == {"loss": "1.2346"} and cb.training_bar.lines == []
    for score in (0.4, 0.3, 0.5):
        cb.on_log(args, state, control, logs={**LOGS, "eval_dev_dim32_ndcg@10": score})
    assert [ln.endswith("(best)") for ln in cb.training_bar.lines] == [True, False, True]
    cb.on_log(args, state, control, logs={"train_runtime": 12.3, "train_loss": 0.9})
    assert cb.training_bar.lines[-1] == "trained in 12 s, mean loss 0.9000"
    assert all("{" not in ln for ln in cb.training_bar.lines)


def test_finetune_prints_compact_lines_and_writes_metrics_jsonl(tiny_model_path, tmp_path, capsys):
    cfg = FinetuneConfig.load(
        None,
        data=str(FIXTURES / "data" / "pairs.jsonl"),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        epochs=2,
        batch_size=8,
        logging_steps=1,
        evaluate_base=False,
    )
    finetune(cfg)
    captured = capsys.readouterr()
    err = captured.out + captured.err  # tqdm: the bar on stderr, its write() lines on stdout
    assert "{'eval_" not in err and "'loss'" not in err  # no raw dicts under the bar
    evals = [ln for ln in err.splitlines() if " dev ndcg@10 " in ln]
    assert len(evals) == 2 and evals[0].startswith("epoch 1  dev ndcg@10  64: ") and "*32: " in evals[0]
    assert evals[0].endswith("(best)")
    records = [json.loads(ln) for ln in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in records if "loss" in r]
    full = [r for r in records if "eval_dev_dim32_ndcg@10" in r]
    assert losses and all(r["step"] >= 1 for r in losses)
    assert [r["epoch"] for r in full] == [1.0, 2.0]
    metric_keys = {k for k in full[0] if k.startswith("eval_dev_dim")}
    assert len(metric_keys) >= 2 * 10  # every metric at both dims, not just the printed one
    assert any("train_runtime" in r for r in records)


def test_report_to_reaches_the_trainer_and_a_missing_package_is_named(tmp_path, monkeypatch):
    for tracker in ("none", "tensorboard", "wandb"):
        cfg = FinetuneConfig(data="x", report_to=tracker)
        args = training_arguments(cfg, tmp_path / "ckpt", LossKind.MNRL, None)
        assert args.report_to == ([] if tracker == "none" else [tracker])
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'mrlkit\[tensorboard\]'"):
        check_report_to("tensorboard")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(MissingExtraError, match="pip install wandb"):
        check_report_to("wandb")
