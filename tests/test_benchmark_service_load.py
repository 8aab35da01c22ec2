"""benchmarks/service_load.py: its percentile helper matches numpy, and its quick mode (a real
``mrlkit serve`` subprocess on loopback, the search fixture, the tiny model) answers every request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")
pytest.importorskip("faiss")

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 1000])
def test_percentile_matches_numpy(n):
    import service_load

    rng = np.random.default_rng(n)
    values = rng.lognormal(size=n).tolist()
    for q in (0, 1, 25, 50, 90, 95, 99, 99.9, 100):
        assert service_load.percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-12), q


def test_percentile_edges():
    import service_load

    assert np.isnan(service_load.percentile([], 50))
    assert service_load.percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    with pytest.raises(ValueError):
        service_load.percentile([1.0], 101)


def test_schedule_share_and_determinism():
    import service_load

    plan = service_load.schedule(["a", "b", "c"], 2000, 0.2, seed=0)
    assert plan == service_load.schedule(["a", "b", "c"], 2000, 0.2, seed=0)
    share = sum(kind == "embed" for kind, _ in plan) / len(plan)
    assert 0.17 < share < 0.23
    assert {kind for kind, _ in service_load.schedule(["a"], 50, 0.0, seed=1)} == {"search"}


def test_service_load_quick(tmp_path, monkeypatch, tiny_model_path):
    """~13 s on the idle 2-core CPU (a server start, an index build, two runs of 100 requests)."""
    import _common
    import service_load

    monkeypatch.setattr(_common, "RESULTS", tmp_path / "results")
    argv = ["--quick", "--model", tiny_model_path, "--work-dir", str(tmp_path / "work"), "--name", "t"]
    monkeypatch.setattr(sys, "argv", ["benchmarks/service_load.py", *argv])
    service_load.main(argv)
    saved = json.loads((tmp_path / "results" / "t.json").read_text())
    keys = {"requests", "errors", "p99_ms", "rps", "inprocess", "overhead", "command", "provenance"}
    assert keys <= set(saved)
    assert saved["requests"] == 100 and saved["errors"] == 0
    assert saved["settings"]["server_exit_status"] is not None  # the server was stopped
    for run in (saved["service"], saved["inprocess"]):
        assert run["requests"] == 100 and run["errors"] == 0
        assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"]
        assert run["rps"] == pytest.approx(run["requests"] / run["wall_s"], rel=0.01)
        assert run["search"]["requests"] + run["embed"]["requests"] == 100
        assert run["embed"]["requests"] > 0  # the mix has both kinds
    assert saved["overhead"]["rps_inprocess_over_service"] > 0
    assert "service_load.py --quick" in saved["command"]
