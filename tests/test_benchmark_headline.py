"""benchmarks/headline.py: the headline is the mean over seeds of the recipe chosen on dev."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import headline  # noqa: E402

DIMS = ["384", "256", "128", "64", "32"]


def _scifact(seed: int, tuned32: float, data: str = "../shared/datasets/scifact") -> dict:
    base = {d: {"ndcg@10": v, "mrr@10": v} for d, v in zip(DIMS, [0.64, 0.63, 0.61, 0.55, 0.45], strict=True)}
    tuned = {
        d: {"ndcg@10": v, "mrr@10": v} for d, v in zip(DIMS, [0.70, 0.70, 0.70, 0.69, tuned32], strict=True)
    }
    settings = {"data": data, "seed": seed, "output_dir": f"runs/s{seed}", "lr": 1e-4, "epochs": 4}
    return {"base": base, "tuned": tuned, "settings": settings, "command": f"python x.py --seed {seed}"}


def _write(tmp_path: Path, name: str, run: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(run))
    return str(path)


def _selection(tmp_path: Path) -> dict:
    chosen = _write(tmp_path, "sel_a", _scifact(42, 0.66, data="runs/scifact_selection"))
    return {"chosen": "sel_a", "runs": {"sel_a": {"file": chosen}}}


def test_interval_is_mean_std_and_t_half_width():
    out = headline.interval([0.60, 0.62, 0.64])
    assert out["mean"] == pytest.approx(0.62)
    assert out["std"] == pytest.approx(0.02)
    assert out["ci95_half_width"] == pytest.approx(4.303 * 0.02 / 3**0.5)


def test_scifact_headline_means_over_seeds_and_rechecks_targets(tmp_path):
    paths = [_write(tmp_path, f"s{s}", _scifact(s, v)) for s, v in ((42, 0.66), (43, 0.68), (44, 0.70))]
    runs = headline.load(paths, _selection(tmp_path))
    out = headline.summarise(runs)
    assert out["tuned"]["32"]["ndcg@10"] == pytest.approx(0.68)
    assert out["tuned"]["384"]["mrr@10"] == pytest.approx(0.70)
    # retention at 32 of the mean: 0.68 / 0.70 = 97.14%
    assert out["checks"]["tuned_retention_32"] == pytest.approx(97.14)
    assert out["spread"]["32"]["std"] == pytest.approx(0.02)
    assert sorted(out["seeds"]) == ["42", "43", "44"]
    assert out["seeds"]["42"]["checks"]["tuned_retention_32"] == pytest.approx(94.29)


def test_headline_refuses_another_recipe_too_few_seeds_and_selection_runs(tmp_path):
    sel = _selection(tmp_path)
    other = _scifact(44, 0.70)
    other["settings"]["lr"] = 2e-4
    paths = [_write(tmp_path, f"s{s}", _scifact(s, 0.68)) for s in (42, 43)]
    with pytest.raises(SystemExit, match="differs in lr"):
        headline.load([*paths, _write(tmp_path, "other", other)], sel)
    with pytest.raises(SystemExit, match=">= 3 different seeds"):
        headline.load(paths, sel)
    on_selection = _write(tmp_path, "s44", _scifact(44, 0.68, data="runs/scifact_selection"))
    with pytest.raises(SystemExit, match="scored on the selection set"):
        headline.load([*paths, on_selection], sel)


def test_sts_headline_means_over_seeds(tmp_path):
    def sts(seed: int, mat32: float, scored_on: str = "sts-test") -> dict:
        mat = dict(zip(DIMS, [0.85, 0.85, 0.85, 0.84, mat32], strict=True))
        std = dict(zip(DIMS, [0.86, 0.86, 0.85, 0.84, 0.82], strict=True))
        base = dict(zip(DIMS, [0.82, 0.82, 0.81, 0.79, 0.77], strict=True))
        settings = {"data": "d", "seed": seed, "output_dir": f"r{seed}", "lr": 8e-5}
        run = {"matryoshka": mat, "standard": std, "base": base, "settings": settings, "checks": {}}
        return {**run, "scored_on": scored_on, "command": "c"}

    chosen = _write(tmp_path, "sel", sts(42, 0.84, "sts-dev"))
    sel = {"chosen": "sel", "runs": {"sel": {"file": chosen}}}
    paths = [_write(tmp_path, f"t{s}", sts(s, v)) for s, v in ((42, 0.83), (43, 0.84), (44, 0.85))]
    out = headline.summarise(headline.load(paths, sel))
    assert out["matryoshka"]["32"] == pytest.approx(0.84)
    assert out["retention_32"]["matryoshka"] == pytest.approx(98.824, abs=1e-3)  # 0.84 / 0.85
    assert out["checks"]["targets_met"] is True  # 98.82% >= 98.5 and above the standard's 95.35%
