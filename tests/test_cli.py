"""The command line: help, data check, finetune/evaluate on the tiny model, one-line errors."""

import json
from pathlib import Path

from conftest import FIXTURES
from table_text import rich_header, rich_rows
from typer.testing import CliRunner

from mrlkit.cli import app

runner = CliRunner()
PAIRS = str(FIXTURES / "data" / "pairs.jsonl")


def test_help_lists_commands_and_config_fields():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("quickstart", "finetune", "evaluate", "data"):
        assert cmd in result.output
    result = runner.invoke(app, ["finetune", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in ("--config", "--dims", "--mini-batch-size", "--matryoshka", "--resume", "--hard-negatives"):
        assert flag in result.output


def test_data_check_shows_layout():
    result = runner.invoke(app, ["data", "check", str(FIXTURES / "data" / "beir")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "beir" in result.output and "test set (report)" in result.output
    result = runner.invoke(app, ["data", "check", PAIRS, "--test-fraction", "0"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "same as the dev set: the report would score the selection set" in result.output


def test_data_check_bad_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"anchor": "a", "positive": "b"}\n{"anchor": "c", "positive": \n')
    result = runner.invoke(app, ["data", "check", str(bad)])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.jsonl:2" in lines[0]


def _assert_table_matches_report(output: str, report_json: Path) -> None:
    """The last printed nDCG@10 table has one row per dim, with report.json's scores and gain."""
    report = json.loads(report_json.read_text())
    table = output[output.rindex("nDCG@10 by dimension") :]
    assert rich_header(table)[:4] == ["dim", "base", "tuned", "gain"]
    rows = rich_rows(table)
    assert list(rows) == list(report["base"]) == ["64", "16"]
    for dim, cells in rows.items():
        base, tuned = report["base"][dim]["ndcg@10"], report["tuned"][dim]["ndcg@10"]
        assert cells[:3] == [f"{base:.4f}", f"{tuned:.4f}", f"{100 * (tuned - base):+.2f}"], dim


def test_finetune_yaml_plus_flags_and_evaluate(tiny_model_path, tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data: {PAIRS}\nmodel: {tiny_model_path}\nepochs: 1\nbatch_size: 8\n")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        ["finetune", "--config", str(cfg), "--output-dir", str(out), "--dims", "64,16"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    _assert_table_matches_report(result.output, out / "report.json")
    # the data summary is printed before training: what was read, held out and trained
    assert "data read 22 rows (pairs); duplicates removed: 1" in result.output
    assert "held out: 4 rows for dev (selection), 3 for test" in result.output
    assert "trains on 14 rows" in result.output
    assert (out / "model").is_dir() and (out / "report.png").is_file()
    saved = (out / "config.yaml").read_text()
    assert "dims:\n- 64\n- 16" in saved and "batch_size: 8" in saved

    ev = tmp_path / "ev"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(out / "model"),
            "--base",
            tiny_model_path,
            "--data",
            PAIRS,
            "--dims",
            "64,16",
            "--output-dir",
            str(ev),
        ],
    )
    assert result.exit_code == 0, result.output
    _assert_table_matches_report(result.output, ev / "report.json")


def test_finetune_errors_are_one_line_and_exit_2(tiny_model_path, tmp_path):
    out = tmp_path / "out"
    cases = [
        (
            ["--data", PAIRS, "--model", tiny_model_path, "--dims", "64,128"],
            "dim 128 is larger than the model's embedding dimension 64",
        ),
        (["--data", PAIRS, "--model", tiny_model_path, "--dims", "32,64"], "not strictly descending"),
        (["--data", PAIRS, "--model", tiny_model_path, "--loss", "bogus"], "loss must be one of"),
        (["--model", tiny_model_path], "no training data given"),
        (["--data", PAIRS, "--model", "org/no-such-model"], "hub is unreachable"),
        (["--config", str(tmp_path / "none.yaml")], "config file"),
    ]
    for args, match in cases:
        result = runner.invoke(
            app, ["finetune", *args, "--output-dir", str(out)], env={"HF_HUB_OFFLINE": "1"}
        )
        assert result.exit_code == 2, (args, result.output)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and match in lines[0], (args, result.output)
    assert not out.exists()
