"""benchmarks/seed_summary.py: benchmark 1's targets per run and on the mean over seeds."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _common  # noqa: E402
import seed_summary  # noqa: E402
from finetune_scifact import target_checks  # noqa: E402

DIMS = ("384", "256", "128", "64", "32")
BASE = dict(zip(DIMS, (0.6451, 0.6351, 0.6016, 0.4841, 0.3371), strict=True))


def result(tuned: tuple[float, ...], seed: int | None, **settings: Any) -> dict[str, Any]:  # noqa: ANN401
    """A results file as finetune_scifact.py writes it (only the fields the summary reads)."""
    recipe = {"epochs": 4.0, "lr": 1e-4, "weights": "1,1,1,8,64", "adaptor": "orthogonal"}
    if seed is not None:
        recipe["seed"] = seed
    return {
        "base": {d: {"ndcg@10": v} for d, v in BASE.items()},
        "tuned": {d: {"ndcg@10": v} for d, v in zip(DIMS, tuned, strict=True)},
        "settings": {**recipe, **settings},
    }


def run_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Write ``runs`` as results files, run the script on them and return what it wrote."""
    paths = []
    for i, run in enumerate(runs):
        paths.append(tmp_path / f"run{i}.json")
        paths[-1].write_text(json.dumps(run))
    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(sys, "argv", ["seed_summary.py", *map(str, paths), "--name", "summary"])
    seed_summary.main()
    return json.loads((tmp_path / "results" / "summary.json").read_text())


def test_target_checks_match_the_issue_definitions() -> None:
    tuned = {d: {"ndcg@10": v} for d, v in zip(DIMS, (0.70, 0.70, 0.6965, 0.68, 0.672), strict=True)}
    base = {d: {"ndcg@10": v} for d, v in BASE.items()}
    checks = target_checks(base, tuned)
    assert checks["tuned64_minus_base384_ndcg_points"] == pytest.approx(100 * (0.68 - 0.6451), abs=0.01)
    assert checks["tuned_retention_128"] == pytest.approx(99.5)
    assert checks["tuned_retention_32"] == pytest.approx(96.0)
    assert checks["targets_met"]  # both retentions sit exactly on their targets
    tuned["32"]["ndcg@10"] = 0.6715
    assert not target_checks(base, tuned)["targets_met"]


def test_summary_reports_each_run_and_the_mean(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = (0.7042, 0.7070, 0.7095, 0.7205, 0.6876)
    b = (0.6952, 0.7027, 0.7002, 0.7005, 0.6522)
    out = run_summary(tmp_path, monkeypatch, [result(a, None), result(b, 43, no_cpu_kernels=False)])
    first, second = out["runs"].values()
    assert first["run"] == "42/torch"  # recorded before --seed and --no-cpu-kernels existed
    assert second["run"] == "43/kernels"
    assert first["targets_met"] and not second["targets_met"]
    assert not out["targets_met_every_run"]
    assert out["tuned_mean"]["32"] == pytest.approx((0.6876 + 0.6522) / 2, abs=1e-4)
    assert out["tuned_std"]["32"] == pytest.approx(statistics.stdev([0.6876, 0.6522]), abs=1e-4)
    assert out["checks_on_mean"]["tuned_retention_32"] == pytest.approx(
        100 * (0.6876 + 0.6522) / (0.7042 + 0.6952), abs=0.01
    )
    assert out["retention_min"]["tuned_retention_32"] == second["tuned_retention_32"]


def test_summary_refuses_runs_of_different_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scores = (0.70, 0.70, 0.70, 0.69, 0.67)
    with pytest.raises(SystemExit, match=r"run1\.json: recipe differs .* in lr"):
        run_summary(tmp_path, monkeypatch, [result(scores, 42), result(scores, 43, lr=2e-4)])


def test_runs_recorded_with_the_opt_in_flag_compare_with_older_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = (0.70, 0.70, 0.70, 0.69, 0.67)
    runs = [result(scores, 42), result(scores, 43, cpu_kernels=True), result(scores, 44, cpu_kernels=False)]
    out = run_summary(tmp_path, monkeypatch, runs)
    assert [r["run"] for r in out["runs"].values()] == ["42/torch", "43/kernels", "44/torch"]
