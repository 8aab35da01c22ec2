"""Shipped recipes: each loads and validates, matches the benchmark it cites, and the quick ones run."""

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES
from typer.testing import CliRunner

import mrlkit
from mrlkit import FinetuneConfig, finetune
from mrlkit.cli import app
from mrlkit.data.types import DataKind
from mrlkit.errors import ConfigError
from mrlkit.recipes import recipe_names, recipe_summary, recipe_text, recipe_values
from mrlkit.training.losses import resolve_loss_kind

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PAIRS = str(FIXTURES / "data" / "pairs.jsonl")
runner = CliRunner()
# benchmarks/finetune_scifact.py's flag names -> FinetuneConfig fields
BENCH_FIELDS = {
    "weights": "matryoshka_weights",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "loss": "loss",
    "hard_negatives": "hard_negatives",
    "hard_negatives_layout": "hard_negatives_layout",
    "max_seq_length": "max_seq_length",
    "eval_fraction": "eval_fraction",
    "rotate": "rotate",
    "rotate_lr": "rotate_learning_rate",
    "freeze_encoder": "freeze_encoder",
    "eval_corpus_size": "eval_corpus_size",
    "best_dim": "best_dim",
    "adaptor": "adaptor",
    "adaptor_epochs": "adaptor_epochs",
    "adaptor_lr": "adaptor_learning_rate",
    "adaptor_distill": "adaptor_distill_weight",
}


def test_the_four_recipes_ship_and_each_validates():
    assert {"default", "small-dims", "fast-cpu", "adaptor-only"} <= set(recipe_names())
    for name in recipe_names():
        cfg = FinetuneConfig.load(None, recipe=name)
        assert isinstance(cfg, FinetuneConfig)
        assert 10 < len(recipe_summary(name)) <= 100, name  # one line for `mrlkit recipes`
        assert "docs/finetuning-options.md" in recipe_text(name), name


def test_default_recipe_spells_out_the_dataclass_defaults():
    defaults = FinetuneConfig().to_dict()
    values = FinetuneConfig.load(None, recipe="default").to_dict()
    assert values == defaults
    assert set(recipe_values("default")) <= set(defaults)


def _bench_settings(cfg: FinetuneConfig, settings: dict) -> tuple[dict, dict]:
    """The recipe's values and the benchmark's, for every benchmark flag the results file records."""
    got, want = {}, {}
    for key, field in BENCH_FIELDS.items():
        if key not in settings or (field == "learning_rate" and cfg.epochs == 0):  # lr unused at epochs 0
            continue
        expected = settings[key]
        if key == "weights":
            expected = [float(w) for w in expected.split(",")]
        value = getattr(cfg, field)
        if field == "max_seq_length" and value is None:  # unset: the model's own, 256 for MiniLM
            value = 256
        if field == "loss":  # auto resolves per data: for SciFact's retrieval pairs, as the benchmark ran
            value = resolve_loss_kind(value, DataKind.BEIR)
        got[field] = value.value if hasattr(value, "value") else value
        want[field] = expected
    return got, want


@pytest.mark.parametrize(
    ("recipe", "result", "key"),
    [
        ("small-dims", "finetune_scifact.json", "settings"),
        ("adaptor-only", "finetune_scifact_adaptor_only_linear.json", "settings"),
    ],
)
def test_recipe_is_the_benchmark_run_it_cites(recipe, result, key):
    assert f"benchmarks/results/{result}" in recipe_text(recipe)
    settings = json.loads((RESULTS / result).read_text())[key]
    cfg = FinetuneConfig.load(None, recipe=recipe)
    got, want = _bench_settings(cfg, settings)
    assert len(got) >= 12 and got == want
    assert cfg.dims == [384, 256, 128, 64, 32]  # the benchmark script's DIMS
    assert cfg.best_metric == "ndcg@10"


def test_cited_result_files_exist():
    for name in recipe_names():
        for path in re.findall(r"benchmarks/results/[\w.-]+\.json", recipe_text(name)):
            assert (ROOT / path).is_file(), (name, path)


def test_precedence_recipe_then_config_file_then_flags(tmp_path):
    cfg_file = tmp_path / "mine.yaml"
    cfg_file.write_text("epochs: 3\nbatch_size: 64\n")
    cfg = FinetuneConfig.load(cfg_file, recipe="small-dims", learning_rate=5e-5, batch_size=None)
    assert cfg.epochs == 3  # config file over recipe
    assert cfg.batch_size == 64  # an unset flag (None) keeps the file's value
    assert cfg.learning_rate == 5e-5  # flag over the recipe's 1e-4
    # recipe over defaults
    assert cfg.loss.value == "mnrl" and cfg.rotate.value == "pca" and cfg.adaptor.value == "orthogonal"


def test_unknown_recipe_is_one_line_listing_the_names(tmp_path):
    with pytest.raises(ConfigError, match="unknown recipe 'nope'; choose one of: adaptor-only, default"):
        FinetuneConfig.load(None, recipe="nope")
    out = str(tmp_path / "o")
    for args in (
        ["recipes", "show", "nope"],
        ["finetune", "--recipe", "nope", "--data", PAIRS, "--output-dir", out],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and "small-dims" in lines[0], result.output
    assert not (tmp_path / "o").exists()


def test_recipes_command_lists_and_shows():
    result = runner.invoke(app, ["recipes"])
    assert result.exit_code == 0, result.output
    for name in recipe_names():
        assert any(line.startswith(name + " ") for line in result.output.splitlines()), name
    shown = runner.invoke(app, ["recipes", "show", "small-dims"])
    assert shown.exit_code == 0
    assert shown.output == recipe_text("small-dims")  # comments included, saveable as is
    assert yaml.safe_load(shown.output)["batch_size"] == 32


@pytest.mark.parametrize("recipe", ["default", "fast-cpu"])
def test_quick_recipes_run_from_the_cli(recipe, tiny_model_path, tmp_path):
    out = tmp_path / "out"
    args = ["finetune", "--recipe", recipe, "--data", PAIRS, "--model", tiny_model_path]
    args += ["--output-dir", str(out), "--dims", "64,32", "--epochs", "1", "--batch-size", "8"]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    expected = FinetuneConfig.load(None, recipe=recipe)
    assert saved["learning_rate"] == expected.learning_rate  # from the recipe
    assert saved["epochs"] == 1 and saved["batch_size"] == 8  # flags win
    assert (out / "model").is_dir() and (out / "report.json").is_file()


def test_adaptor_only_recipe_runs(tiny_model_path, tmp_path):
    sample = Path(mrlkit.__file__).parent / "samples" / "scifact-mini"
    cfg = FinetuneConfig.load(
        None,
        recipe="adaptor-only",
        data=str(sample),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        dims=[64, 32],
        matryoshka_weights=[1, 8],
        max_train_rows=64,
        hard_negatives_range=[2, 30],
        hard_negatives_margin=0.0,  # a random tiny model: its scores barely separate
        adaptor_epochs=2,
        rotate_samples=256,
        max_seq_length=64,
        evaluate_base=False,
    )
    assert cfg.epochs == 0 and cfg.adaptor.value == "linear"
    meta = finetune(cfg).report.meta
    assert meta["adaptor"] is not None and meta["rotate"] == "pca"
    assert meta["hard_negatives"]["num_negatives"] == 2


def test_recipes_are_package_data():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"recipes/*.yaml"' in pyproject
    assert {f.name for f in dataclasses.fields(FinetuneConfig)} >= set(recipe_values("small-dims"))


@pytest.mark.slow
def test_small_dims_recipe_runs_scaled_down(tiny_model_path, tmp_path):
    """Every part of the recipe together: MNRL, PCA rotation, n-tuple mining, orthogonal adaptor."""
    sample = Path(mrlkit.__file__).parent / "samples" / "scifact-mini"
    cfg = FinetuneConfig.load(
        None,
        recipe="small-dims",
        data=str(sample),
        model=tiny_model_path,
        output_dir=str(tmp_path / "out"),
        dims=[64, 32],
        matryoshka_weights=[1, 8],
        epochs=1,
        batch_size=16,
        max_train_rows=48,
        max_seq_length=64,
        hard_negatives_range=[2, 30],
        hard_negatives_margin=0.0,
        rotate_samples=256,
        eval_corpus_size=100,
        adaptor_epochs=2,
        evaluate_base=False,
    )
    meta = finetune(cfg).report.meta
    assert meta["loss"].startswith("1d-matryoshka(mnrl)") and meta["rotate"] == "pca"
    assert meta["adaptor"]["mode"] == "orthogonal" and meta["hard_negatives"]["num_negatives"] == 2
    assert meta["best_model_metric"] == "eval_dev_dim32_ndcg@10"
