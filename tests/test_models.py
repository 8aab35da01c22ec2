import pytest

from mrlkit.errors import ConfigError
from mrlkit.models import DEFAULT_MODEL, resolve_model


def test_default_model_resolves_to_packaged_copy(minilm_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model(DEFAULT_MODEL) == minilm_path
    assert resolve_model("all-MiniLM-L6-v2") == minilm_path


def test_local_path_is_kept(tiny_model_path):
    assert resolve_model(tiny_model_path) == tiny_model_path


def test_unknown_hub_id_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ConfigError,
        match="'org/not-a-model' is not a local directory and the Hugging Face hub is unreachable",
    ):
        resolve_model("org/not-a-model")


def test_file_instead_of_directory(tmp_path):
    f = tmp_path / "model.bin"
    f.write_text("x")
    with pytest.raises(ConfigError, match="is a file; pass the model's directory"):
        resolve_model(str(f))
