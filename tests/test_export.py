"""ONNX export of the tiny model: graphs, parity report, the documented onnxruntime snippet, bad input."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")

from mrlkit.cli.app import app  # noqa: E402
from mrlkit.data import load_eval_set  # noqa: E402
from mrlkit.errors import ConfigError  # noqa: E402
from mrlkit.export import export_onnx, load_onnx_model  # noqa: E402
from mrlkit.export import onnx as export_module  # noqa: E402
from mrlkit.export import parity as parity_module  # noqa: E402
from mrlkit.export.onnx import SAMPLE_DIR  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "export.md"
TEXTS = ["a query about cells", "a document on protein folding and cell growth", "x"]


@pytest.fixture(scope="module")
def small_eval():
    return load_eval_set(str(SAMPLE_DIR)).subsample_corpus(40)


@pytest.fixture(scope="module")
def int8_export(tiny_model_path, tmp_path_factory, small_eval):
    out = tmp_path_factory.mktemp("export") / "tiny-onnx"
    return export_onnx(tiny_model_path, out, int8=True, eval_data=small_eval, parity_texts=16)


def test_int8_export_writes_graphs_manifest_and_a_passing_report(int8_export):
    out = int8_export.output_dir
    for name in (
        "onnx/model.onnx",
        "onnx/model_qint8.onnx",
        "mrlkit_export.json",
        "parity.md",
        "modules.json",
    ):
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".tiny-onnx.tmp-*"))  # the temporary folder is gone
    manifest = json.loads((out / "mrlkit_export.json").read_text())
    assert manifest["served"] == "int8" and manifest["dims"] == [64, 32]
    parity = json.loads((out / "parity.json").read_text())
    assert [v["variant"] for v in parity["variants"]] == ["fp32", "int8"]
    fp32 = parity["variants"][0]
    assert fp32["min_cosine"] > 0.9999  # the traced graph is the torch model
    for dim in ("64", "32"):  # nDCG@10 per dim, torch vs ONNX fp32: same ranking
        assert fp32["metrics"][dim]["ndcg@10"] == pytest.approx(
            parity["torch_metrics"][dim]["ndcg@10"], abs=1e-3
        )
    assert (out / "parity.md").read_text().splitlines()[0].startswith("PASS" if parity["passed"] else "FAIL")


def test_load_onnx_model_matches_torch_at_a_truncated_dim(int8_export, tiny_model_path):
    onnx_model = load_onnx_model(int8_export.output_dir, "fp32", truncate_dim=32)
    torch_model = SentenceTransformer(tiny_model_path, device="cpu", truncate_dim=32)
    got = onnx_model.encode(TEXTS, normalize_embeddings=True)
    want = torch_model.encode(TEXTS, normalize_embeddings=True)
    assert got.shape == (3, 32)
    np.testing.assert_allclose(got, want, atol=1e-4)
    query = onnx_model.encode_query(["a query"])
    assert query.shape == (1, 32)


def test_the_documented_onnxruntime_snippet_matches_torch(int8_export, tiny_model_path):
    block = re.search(r"```python\n# plain onnxruntime\n(.*?)```", DOCS.read_text(), re.S).group(1)
    code = block.replace('"mrlkit-output/model-onnx"', repr(str(int8_export.output_dir)))
    code = code.replace("model_qint8.onnx", "model.onnx")  # fp32: compared to torch tightly
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    got = namespace["embeddings"]
    want = SentenceTransformer(tiny_model_path, device="cpu", truncate_dim=64).encode(
        ["a query", "a document"], normalize_embeddings=True
    )
    np.testing.assert_allclose(got, want[:, :64], atol=1e-4)
    # the int8 graph, as the docs run it, stays close to torch
    int8_ns: dict = {}
    exec(
        compile(block.replace('"mrlkit-output/model-onnx"', repr(str(int8_export.output_dir))), "d", "exec"),
        int8_ns,
    )
    assert (int8_ns["embeddings"] * want).sum(axis=1).min() > 0.95


def test_fp16_export_meets_its_target(tiny_model_path, tmp_path, small_eval):
    result = export_onnx(tiny_model_path, tmp_path / "fp16", fp16=True, eval_data=small_eval, parity_texts=16)
    fp16 = result.parity.variants[-1]
    assert fp16.variant == "fp16" and result.served == "fp16"
    assert fp16.min_cosine >= 0.999 and fp16.met
    assert (tmp_path / "fp16" / "onnx" / "model_fp16.onnx").is_file()


def test_parity_below_target_still_finishes_and_says_fail_first(
    tiny_model_path, tmp_path, small_eval, monkeypatch
):
    monkeypatch.setitem(parity_module.COSINE_TARGETS, "fp32", 1.5)  # unreachable: cosines are <= 1
    result = export_onnx(tiny_model_path, tmp_path / "out", eval_data=small_eval, parity_texts=8)
    assert not result.parity.passed
    first = (tmp_path / "out" / "parity.md").read_text().splitlines()[0]
    assert first == "FAIL: fp32 below the cosine target"
    assert "NOT MET" in (tmp_path / "out" / "parity.md").read_text()


def test_a_failed_export_leaves_nothing(tiny_model_path, tmp_path, small_eval, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("quantiser crashed")

    monkeypatch.setattr(export_module, "quantize_int8", broken)
    with pytest.raises(RuntimeError, match="quantiser crashed"):
        export_onnx(tiny_model_path, tmp_path / "out", int8=True, eval_data=small_eval)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ({"fp16": True, "int8": True}, "--fp16 and --int8 are separate exports"),
        ({"opset": 3}, "opset must be between 7 and 21"),
    ],
)
def test_bad_options_are_refused(tiny_model_path, tmp_path, args, match):
    with pytest.raises(ConfigError, match=match):
        export_onnx(tiny_model_path, tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()


def test_a_path_that_is_not_a_model_and_an_existing_output_are_refused(tiny_model_path, tmp_path):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "notamodel" / "data.jsonl").write_text("{}\n")
    with pytest.raises(ConfigError, match="is not a model folder"):
        export_onnx(str(tmp_path / "notamodel"), tmp_path / "out")
    (tmp_path / "taken").mkdir()
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        export_onnx(tiny_model_path, tmp_path / "taken")


def test_cli_export_errors_exit_2_on_one_line(tiny_model_path, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", tiny_model_path, "--onnx", "--fp16", "--int8"])
    assert result.exit_code == 2
    assert "error: --fp16 and --int8 are separate exports" in result.output
    result = runner.invoke(app, ["export", str(tmp_path), "--onnx", "--output-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "is not a model folder" in result.output


def test_search_encoder_with_the_onnx_backend_matches_the_torch_model(int8_export, tiny_model_path):
    from mrlkit.search.encode import Encoder, same_model

    onnx_encoder = Encoder(str(int8_export.output_dir), backend="onnx")
    torch_encoder = Encoder(tiny_model_path)
    assert onnx_encoder.dim == torch_encoder.dim == 64
    got = onnx_encoder.encode(TEXTS, query=True)
    want = torch_encoder.encode(TEXTS, query=True)
    assert (got * want).sum(axis=1).min() > 0.99  # the served int8 graph
    # an index built with the torch model accepts the export as its query encoder (same weights)
    assert same_model(torch_encoder.fingerprint(), onnx_encoder.fingerprint())
    with pytest.raises(ConfigError, match="model backend must be one of torch, onnx"):
        Encoder(tiny_model_path, backend="tensorrt")


def test_int8_graph_fuses_attention_and_keeps_the_down_projections_fp32(int8_export):
    import onnx

    manifest = json.loads((int8_export.output_dir / "mrlkit_export.json").read_text())
    kept = manifest["int8"]["fp32_matmuls"]
    assert manifest["int8"]["exclude"] == "ffn-out"
    assert len(kept) == 2 and all("output/dense" in name for name in kept)  # one per layer
    graph = onnx.load(str(int8_export.output_dir / int8_export.files["int8"]), load_external_data=False).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QAttention") == 2 and "Attention" not in ops
    names = {node.name for node in graph.node if node.op_type == "MatMul"}
    assert set(kept) <= names  # left as fp32 MatMul, not MatMulInteger


def test_int8_exclude_is_checked(tiny_model_path, tmp_path):
    with pytest.raises(ConfigError, match="int8_exclude must be one of ffn-out, none"):
        export_onnx(tiny_model_path, tmp_path / "x", int8=True, int8_exclude="attention")
    assert not (tmp_path / "x").exists()
