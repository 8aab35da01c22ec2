"""benchmarks/_common.py: provenance recorded in every results file, and the overwrite rule."""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _common  # noqa: E402


@pytest.fixture
def results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["benchmarks/probe.py", "--data", "x y", "--overwrite"])
    return tmp_path / "results"


def test_written_file_records_command_commit_date_and_versions(results: Path) -> None:
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    path = _common.write_result("probe", {"score": 0.5})
    saved = json.loads(path.read_text())
    assert path == results / "probe.json" and saved["score"] == 0.5
    assert saved["command"].endswith("probe.py --data 'x y'")  # quoted, and --overwrite left out
    prov = saved["provenance"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=BENCHMARKS, capture_output=True, text=True)
    assert prov["mrlkit_commit"] == head.stdout.strip() and len(prov["mrlkit_commit"]) == 40
    assert isinstance(prov["git_dirty"], bool)
    date = datetime.datetime.fromisoformat(prov["date_utc"])
    assert date.utcoffset() == datetime.timedelta(0) and before <= date
    assert prov["versions"]["python"] == platform.python_version()
    for package in ("torch", "transformers", "sentence-transformers", "numpy", "mrlkit"):
        assert prov["versions"][package] == metadata.version(package)
    assert prov["machine"]["cpu_count"] >= 1 and prov["machine"]["platform"]
    assert not list(results.glob("*.tmp"))  # written through a temporary file, then renamed


def test_dirty_flag_follows_git_status(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"status": " M src/x.py", "rev-parse": "a" * 40}
    monkeypatch.setattr(_common, "_git", lambda *args: answers[args[0]])
    assert _common.provenance()["git_dirty"] is True
    answers["status"] = ""
    assert _common.provenance()["git_dirty"] is False
    monkeypatch.setattr(_common, "_git", lambda *args: None)  # no git: unknown, not "clean"
    assert _common.provenance()["git_dirty"] is None and _common.provenance()["mrlkit_commit"] is None


def test_another_command_never_replaces_a_results_file(results: Path, monkeypatch, capsys) -> None:
    _common.write_result("probe", {"score": 0.5})
    monkeypatch.setattr(sys, "argv", ["benchmarks/probe.py", "--data", "other"])
    for overwrite in (False, True):
        with pytest.raises(_common.ResultFileExists, match=r"probe\.json was written by another command"):
            _common.write_result("probe", {"score": 0.9}, overwrite=overwrite)
    assert json.loads((results / "probe.json").read_text())["score"] == 0.5  # untouched
    assert "choose another --name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        _common.check_writable("probe")
    assert exit_info.value.code == 2
    assert _common.write_result("probe_other", {"score": 0.9}).name == "probe_other.json"  # a new name


def test_same_command_replaces_its_file_only_with_overwrite(results: Path, monkeypatch) -> None:
    _common.write_result("probe", {"score": 0.5})
    monkeypatch.setattr(sys, "argv", ["benchmarks/probe.py", "--data", "x y"])  # the same run, no flag
    with pytest.raises(_common.ResultFileExists, match="add --overwrite"):
        _common.write_result("probe", {"score": 0.7})
    _common.write_result("probe", {"score": 0.7}, overwrite=True)
    assert json.loads((results / "probe.json").read_text())["score"] == 0.7


def test_cpu_kernels_flag_is_opt_in_and_old_commands_still_parse() -> None:
    p = argparse.ArgumentParser()
    _common.add_shared_arguments(p)
    assert _common.shared_settings(p.parse_args([]))["cpu_kernels"] is False
    assert _common.shared_settings(p.parse_args(["--cpu-kernels"]))["cpu_kernels"] is True
    assert _common.shared_settings(p.parse_args(["--no-cpu-kernels"]))["cpu_kernels"] is False
    with pytest.raises(SystemExit):
        p.parse_args(["--cpu-kernels", "--no-cpu-kernels"])
