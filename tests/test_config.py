import pytest

from mrlkit.config import FinetuneConfig, LossKind, MatryoshkaMode, parse_value
from mrlkit.errors import ConfigError


def test_defaults_live_in_the_dataclass():
    c = FinetuneConfig.load(None, data="x")
    assert c.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert c.loss is LossKind.AUTO and c.matryoshka is MatryoshkaMode.MRL
    assert c.batch_size == 32 and c.dims is None


def test_yaml_then_cli_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("data: d.jsonl\nepochs: 3\nbatch-size: 8\ndims: [256, 64]\nloss: cached-mnrl\n")
    c = FinetuneConfig.load(y, epochs="5", batch_size=None)
    assert c.data == "d.jsonl"
    assert c.epochs == 5.0  # CLI wins
    assert c.batch_size == 8  # unset CLI flag keeps the YAML value
    assert c.dims == [256, 64]
    assert c.loss is LossKind.CACHED_MNRL


def test_config_round_trip(tmp_path):
    c = FinetuneConfig.load(None, data="x", dims="128,64", columns="anchor=q,positive=p", matryoshka="2d")
    c.save(tmp_path / "c.yaml")
    assert FinetuneConfig.load(tmp_path / "c.yaml") == c


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"loss": "triplet"}, "loss must be one of auto, mnrl, cached-mnrl, cosent; got 'triplet'"),
        ({"matryoshka": "3d"}, "matryoshka must be one of 1d, 2d, none"),
        ({"batch_size": 0}, "batch_size must be > 0, got 0"),
        ({"learning_rate": -1e-5}, "learning_rate must be > 0"),
        ({"warmup_ratio": 1.5}, r"warmup_ratio must be in \[0, 1\)"),
        ({"eval_fraction": 1.0}, r"eval_fraction must be in \(0, 1\)"),
        ({"score_range": "5,0"}, "score_range must be two numbers LO,HI with LO < HI"),
        ({"hard_negatives_range": "50,10"}, "hard_negatives_range must be MIN,MAX with 0 <= MIN < MAX"),
        ({"hard_negatives": 5, "hard_negatives_range": "10,12"}, r"MAX - MIN >= hard_negatives \(5\)"),
        ({"hard_negatives_layout": "columns"}, "hard_negatives_layout must be one of triplet, n-tuple"),
        ({"hard_negatives_margin": 1.5}, r"hard_negatives_margin must be in \[0, 1\)"),
        ({"mmap_threshold_mb": -1}, r"mmap_threshold_mb must be >= 0 \(0: off\), got -1"),
        ({"similarity_distill_weight": -0.5}, r"similarity_distill_weight must be >= 0 \(0: off\), got -0.5"),
        ({"epochs": "many"}, "epochs: cannot read 'many' as float"),
        ({"columns": "anchor"}, "columns: cannot read 'anchor'"),
        ({"dims": "256,x"}, "dims: cannot read '256,x'"),
        ({"learnin_rate": 1e-5}, r"unknown setting\(s\) \['learnin_rate'\]"),
    ],
)
def test_bad_values_name_the_setting(overrides, match):
    with pytest.raises(ConfigError, match=match):
        FinetuneConfig.load(None, data="x", **overrides)


def test_bad_yaml_names_file_and_line(tmp_path):
    y = tmp_path / "bad.yaml"
    y.write_text("data: x\nepochs: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: invalid YAML"):
        FinetuneConfig.load(y)
    with pytest.raises(ConfigError, match="config file .* not found"):
        FinetuneConfig.load(tmp_path / "missing.yaml")
    y.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        FinetuneConfig.load(y)


def test_parse_value_types():
    assert parse_value("dims", "384, 128", list[int]) == [384, 128]
    assert parse_value("columns", "anchor=q", dict[str, str]) == {"anchor": "q"}
    assert parse_value("resume", "true", bool) is True
