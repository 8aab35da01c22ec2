"""Report arithmetic, Markdown, JSON round-trip, PNG and the base-only case, on hand-made numbers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from rich.console import Console
from table_text import rich_header, rich_rows

from mrlkit.errors import ConfigError, DataError
from mrlkit.evaluation import Report, plot_metric_vs_dim
from mrlkit.evaluation.metrics import Task
from mrlkit.evaluation.report import SELECTION_WARNING

BASE = {
    256: {"ndcg@10": 0.50, "recall@10": 0.80},
    128: {"ndcg@10": 0.45, "recall@10": 0.72},
    64: {"ndcg@10": 0.40, "recall@10": 0.60},
}
TUNED = {
    256: {"ndcg@10": 0.55, "recall@10": 0.85},
    128: {"ndcg@10": 0.52, "recall@10": 0.84},
    64: {"ndcg@10": 0.48, "recall@10": 0.80},
}
META = {
    "models": {"base": "all-MiniLM-L6-v2", "tuned": "out/model"},
    "eval_queries": 50,
    "dims": [256, 128, 64],
}


@pytest.fixture
def report() -> Report:
    return Report(task="ir", dims=[64, 256, 128], base=BASE, tuned=TUNED, meta=META)


def test_retention_and_gain(report):
    assert report.dims == [256, 128, 64]
    assert report.main_metric == "ndcg@10"
    assert report.retention("base") == pytest.approx({256: 100.0, 128: 90.0, 64: 80.0})
    assert report.retention("tuned") == pytest.approx(
        {256: 100.0, 128: 100 * 0.52 / 0.55, 64: 100 * 0.48 / 0.55}
    )
    assert report.gain() == pytest.approx({256: 5.0, 128: 7.0, 64: 8.0})
    assert report.gain("recall@10") == pytest.approx({256: 5.0, 128: 12.0, 64: 20.0})
    assert report.retention("base", "recall@10")[64] == pytest.approx(75.0)


def test_markdown_rows(report):
    text = report.to_markdown()
    assert "| dim | base nDCG@10 | tuned nDCG@10 | gain | base retention % | tuned retention % |" in text
    assert "| 256 | 0.5000 | 0.5500 | +5.00 | 100.0 | 100.0 |" in text
    assert "| 64 | 0.4000 | 0.4800 | +8.00 | 80.0 | 87.3 |" in text
    assert "## All metrics: base model" in text and "## All metrics: tuned model" in text
    assert "| dim | nDCG@10 | Recall@10 |" in text
    assert "| 128 | 0.4500 | 0.7200 |" in text
    assert "| `models.base` | all-MiniLM-L6-v2 |" in text
    assert "| `dims` | 256, 128, 64 |" in text


def test_json_round_trip(report, tmp_path):
    data = json.loads(json.dumps(report.to_dict()))
    # the JSON holds the input scores and summaries worked out here, not just what the report computed
    assert data["base"] == {str(d): v for d, v in BASE.items()}
    assert data["tuned"] == {str(d): v for d, v in TUNED.items()}
    assert data["summary"]["gain"] == pytest.approx({"256": 5.0, "128": 7.0, "64": 8.0})
    summary = data["summary"]  # retentions by hand: score / full-dim score x 100
    assert summary["metric"] == "ndcg@10"
    assert summary["base_retention"] == pytest.approx({"256": 100.0, "128": 90.0, "64": 80.0})
    assert summary["tuned_retention"] == pytest.approx({"256": 100.0, "128": 52 / 0.55, "64": 48 / 0.55})
    assert Report.from_dict(data) == report
    meta = {"data": tmp_path, "task": Task.IR, "seen": {"b", "a"}}
    safe = Report(task=Task.IR, dims=[256, 128, 64], base=BASE, meta=meta).to_dict()["meta"]
    assert safe == {"data": str(tmp_path), "task": "ir", "seen": ["a", "b"]}


def test_save_writes_three_files(report, tmp_path):
    paths = report.save(tmp_path / "out")
    assert set(paths) == {"markdown", "json", "plot"}
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["plot"].stat().st_size > 10_000
    assert Report.load(paths["json"]) == report
    assert json.loads(paths["json"].read_text())["tuned"]["64"] == TUNED[64]
    markdown = paths["markdown"].read_text(encoding="utf-8")
    assert "| 64 | 0.4000 | 0.4800 | +8.00 | 80.0 | 87.3 |" in markdown.splitlines()


def test_base_only_report(tmp_path):
    report = Report(task="ir", dims=[256, 128, 64], base=BASE)
    assert report.retention("base")[128] == pytest.approx(90.0)
    with pytest.raises(ConfigError, match="has no tuned model"):
        report.gain()
    text = report.to_markdown()
    assert "| dim | base nDCG@10 | base retention % |" in text
    assert "| 64 | 0.4000 | 80.0 |" in text
    assert "tuned" not in text
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    paths = report.save(tmp_path)
    assert all(Path(path).stat().st_size > 0 for path in paths.values())


def test_tuned_only_report_says_tuned(tmp_path):
    """finetune without a base run: the single column holds the tuned model and is labelled so."""
    report = Report(task="ir", dims=[256, 128, 64], base=TUNED, meta={"scores_of": "tuned"})
    text = report.to_markdown()
    assert "| dim | tuned nDCG@10 | tuned retention % |" in text
    assert "## All metrics: tuned model" in text and "base model" not in text
    console = Console(record=True, width=120)
    console.print(report.rich_table())
    assert rich_header(console.export_text()) == ["dim", "tuned", "retention %"]


def test_rich_table(report):
    console = Console(record=True, width=120)
    console.print(report.rich_table())
    text = console.export_text()
    assert "nDCG@10 by dimension" in text
    assert rich_header(text) == ["dim", "base", "tuned", "gain", "base ret. %", "tuned ret. %"]
    rows = rich_rows(text)
    assert list(rows) == ["256", "128", "64"]  # one row per dim, largest first
    for dim, cells in rows.items():  # each cell worked out from the inputs
        b, t, full = BASE[int(dim)]["ndcg@10"], TUNED[int(dim)]["ndcg@10"], TUNED[256]["ndcg@10"]
        want = [
            f"{b:.4f}",
            f"{t:.4f}",
            f"{100 * (t - b):+.2f}",
            f"{100 * b / 0.50:.1f}",
            f"{100 * t / full:.1f}",
        ]
        assert cells == want, dim
    console = Console(record=True, width=120)
    console.print(Report(task="ir", dims=[256, 128, 64], base=BASE).rich_table("recall@10"))
    text = console.export_text()
    assert "Recall@10 by dimension" in text and rich_header(text) == ["dim", "base", "retention %"]
    assert rich_rows(text) == {
        "256": ["0.8000", "100.0"],
        "128": ["0.7200", "90.0"],
        "64": ["0.6000", "75.0"],
    }


def test_sts_report_and_plot_metric(tmp_path):
    base = {384: {"spearman": 0.80, "pearson": 0.79}, 64: {"spearman": 0.70, "pearson": 0.69}}
    tuned = {384: {"spearman": 0.82, "pearson": 0.81}, 64: {"spearman": 0.80, "pearson": 0.78}}
    report = Report(task="sts", dims=[384, 64], base=base, tuned=tuned)
    assert report.main_metric == "spearman"
    assert report.gain()[64] == pytest.approx(10.0)
    out = plot_metric_vs_dim(report, tmp_path / "pearson.png", metric="pearson")
    assert out.stat().st_size > 0


def test_zero_full_dim_score_gives_nan_retention():
    report = Report(task="ir", dims=[2, 1], base={2: {"ndcg@10": 0.0}, 1: {"ndcg@10": 0.0}})
    assert all(math.isnan(value) for value in report.retention().values())
    assert "n/a" in report.to_markdown()


def test_bad_reports_are_rejected(report):
    with pytest.raises(ConfigError, match="report task 'qa' is unknown; use one of 'ir', 'sts'"):
        Report(task="qa", dims=[256], base=BASE)
    with pytest.raises(DataError, match=r"tuned scores lack dims \[32\]"):
        Report(task="ir", dims=[256, 32], base={**BASE, 32: BASE[64]}, tuned=TUNED)
    with pytest.raises(ConfigError, match="metric 'mrr@10' is not in the report"):
        report.gain("mrr@10")
    with pytest.raises(DataError, match="report data lacks base"):
        Report.from_dict({"task": "ir", "dims": [256]})


def test_selection_set_warning_comes_first(report):
    flagged = Report(
        task="ir", dims=[256, 128, 64], base=BASE, tuned=TUNED, meta={"scored_on_selection_set": True}
    )
    lines = flagged.to_markdown().splitlines()
    assert lines[0] == f"> **{SELECTION_WARNING}**" and lines[2].startswith("# mrlkit report")
    data = flagged.to_dict()
    assert list(data)[:2] == ["scored_on_selection_set", "warning"]
    assert data["scored_on_selection_set"] is True and data["warning"] == SELECTION_WARNING
    assert Report.from_dict(json.loads(json.dumps(data))) == flagged
    console = Console(record=True, width=300)
    console.print(flagged.rich_table())
    assert console.export_text().lstrip().startswith("WARNING: these scores are on the selection set")
    # an unflagged report neither warns nor claims to
    assert (
        report.to_markdown().startswith("# mrlkit report")
        and report.to_dict()["scored_on_selection_set"] is False
    )
