"""``mrlkit finetune --help``: one short line per option, grouped in panels; ``--version``."""

import dataclasses
import re
from pathlib import Path

from typer.testing import CliRunner

import mrlkit
from mrlkit.cli import app
from mrlkit.config import FinetuneConfig, Panel

runner = CliRunner()
DOCS = Path(__file__).parent.parent / "docs" / "finetuning-options.md"


def test_every_option_has_a_short_help_and_a_panel():
    for f in dataclasses.fields(FinetuneConfig):
        assert isinstance(f.metadata.get("panel"), Panel), f"{f.name}: give _help(...) a Panel"
        assert 0 < len(f.metadata["help"]) <= 100, f"{f.name}: one short line; explain in {DOCS.name}"


def test_finetune_help_shows_panels_short_lines_and_the_docs_pointer():
    result = runner.invoke(app, ["finetune", "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    out = result.output
    for panel in Panel:
        assert f"─ {panel.value} ─" in out, panel
    assert "On STSb" not in out and "benchmarks/README.md" not in out  # results live in the docs
    assert "docs/finetuning-options.md" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    # rich wraps at spaces: every word of every help text comes out whole
    words = set(re.sub(r"[│╭╮╰╯─]", " ", out).split())
    for f in dataclasses.fields(FinetuneConfig):
        missing = [w for w in f.metadata["help"].split() if w not in words]
        assert not missing, (f.name, missing)
    # panels in the order of the Panel enum
    positions = [out.index(f"─ {p.value} ─") for p in Panel]
    assert positions == sorted(positions)


def test_docs_page_explains_every_option():
    text = DOCS.read_text(encoding="utf-8")
    for f in dataclasses.fields(FinetuneConfig):
        assert f"`--{f.name.replace('_', '-')}`" in text, f"{f.name} is missing from {DOCS}"


def test_version_and_completion():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"mrlkit {mrlkit.__version__}"
    assert "--install-completion" in runner.invoke(app, ["--help"], env={"COLUMNS": "100"}).output
