"""The index with an ONNX export as its encoder (``--model-backend onnx``): torch's hits, same refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import FIXTURES
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("faiss")

from mrlkit.cli import app  # noqa: E402
from mrlkit.data import load_eval_set  # noqa: E402
from mrlkit.data.beir import read_queries  # noqa: E402
from mrlkit.errors import ConfigError  # noqa: E402
from mrlkit.export import export_onnx  # noqa: E402
from mrlkit.export.onnx import SAMPLE_DIR  # noqa: E402
from mrlkit.search import Index, IndexConfig  # noqa: E402

runner = CliRunner()
SMALL = str(FIXTURES / "search")
QUERIES = list(read_queries(SAMPLE_DIR / "queries.jsonl").values())[:40]
CONFIG = IndexConfig(shortlist_dim=32, quantization="int8", hnsw=True)


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def model_and_export(tiny_model_path, tmp_path_factory):
    """A copy of the tiny model and its fp32 export in the default place, ``MODEL-onnx`` beside it."""
    root = tmp_path_factory.mktemp("onnx-search")
    model = root / "model"
    shutil.copytree(tiny_model_path, model)
    export = export_onnx(str(model), eval_data=load_eval_set(SMALL), parity_texts=8).output_dir
    assert export == root / "model-onnx"
    return str(model), str(export)


@pytest.fixture(scope="module")
def torch_index(model_and_export, tmp_path_factory):
    model, _ = model_and_export
    return Index.build(tmp_path_factory.mktemp("idx") / "idx", str(SAMPLE_DIR), model=model, config=CONFIG)


def hits(index: Index, mode: str, k: int = 10) -> tuple[list[list[str]], np.ndarray]:
    results = index.search(QUERIES, k=k, mode=mode)
    return [[h.id for h in r] for r in results], np.array([[h.score for h in r] for r in results])


@pytest.mark.parametrize("mode", ["exact", "funnel", "hnsw"])
def test_a_torch_index_searched_with_its_onnx_export_gives_torch_hits(torch_index, model_and_export, mode):
    _, export = model_and_export
    onnx_index = Index.open(torch_index.path, model=export, model_backend="onnx")
    want_ids, want_scores = hits(torch_index, mode)
    got_ids, got_scores = hits(onnx_index, mode)
    assert onnx_index.encoder.backend.value == "onnx" and torch_index.encoder.backend.value == "torch"
    assert type(onnx_index.encoder.model[0]).__name__ == "OnnxEmbedding"
    assert got_ids == want_ids
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)


def test_model_backend_onnx_alone_finds_the_export_beside_the_index_model(torch_index, model_and_export):
    _, export = model_and_export
    index = Index.open(torch_index.path, model_backend="onnx")  # the manifest names the torch folder
    assert index.encoder.name == export
    assert hits(index, "exact")[0] == hits(torch_index, "exact")[0]


def test_an_index_built_with_the_export_records_and_reuses_the_onnx_backend(
    torch_index, model_and_export, tmp_path
):
    _, export = model_and_export
    built = Index.build(tmp_path / "idx", str(SAMPLE_DIR), model=export, config=CONFIG, model_backend="onnx")
    assert built.manifest.model["backend"] == "onnx"
    reopened = Index.open(tmp_path / "idx")
    assert reopened.encoder.backend.value == "onnx"
    # documents encoded by ONNX land where torch put them: exact search through torch query vectors agrees
    vectors = torch_index.encoder.encode(QUERIES, query=True)
    want_rows, want_scores = torch_index.search_vectors(vectors, k=10, mode="exact")
    got_rows, got_scores = reopened.search_vectors(vectors, k=10, mode="exact")
    assert [[torch_index.ids[r] for r in row] for row in want_rows] == [
        [reopened.ids[r] for r in row] for row in got_rows
    ]
    np.testing.assert_allclose(got_scores, want_scores, atol=1e-3)  # fp16 full vectors on both sides
    # a torch query model still matches (same weights), so model= alone means torch
    assert Index.open(tmp_path / "idx", model=export).encoder.backend.value == "torch"


def test_an_export_of_another_model_is_refused(tiny_model_path, model_and_export, tmp_path):
    _, export = model_and_export
    other = SentenceTransformer(tiny_model_path, device="cpu")
    with torch.no_grad():
        next(iter(other.parameters())).mul_(1.5)
    other.save(str(tmp_path / "other"))
    Index.build(tmp_path / "idx", SMALL, model=str(tmp_path / "other"), config=IndexConfig(shortlist_dim=16))
    with pytest.raises(ConfigError, match="not comparable"):
        Index.open(tmp_path / "idx", model=export, model_backend="onnx").search("bees")
    result = invoke("search", tmp_path / "idx", "bees", "--model", export, "--model-backend", "onnx")
    assert result.exit_code == 2 and "their vectors are not comparable" in result.output


def test_cli_build_add_and_search_with_the_onnx_backend(model_and_export, tmp_path):
    model, export = model_and_export
    idx = tmp_path / "idx"
    built = invoke("index", "build", SMALL, idx, "--model", model, "--shortlist-dim", "16")
    assert built.exit_code == 0, built.output
    torch_hits = invoke("search", idx, "how do bees find flowers", "-k", "5", "--json")
    onnx_hits = invoke(
        "search", idx, "how do bees find flowers", "-k", "5", "--json", "--model-backend", "onnx"
    )
    assert onnx_hits.exit_code == 0, onnx_hits.output
    want = [json.loads(line) for line in torch_hits.output.splitlines()]
    got = [json.loads(line) for line in onnx_hits.output.splitlines()]
    assert [h["id"] for h in got] == [h["id"] for h in want]
    assert [h["score"] for h in got] == pytest.approx([h["score"] for h in want], abs=1e-5)
    new = tmp_path / "new.jsonl"
    new.write_text('{"_id": "n1", "text": "Bees find flowers by their scent and colour."}\n')
    added = invoke("index", "add", idx, new, "--model", export, "--model-backend", "onnx")
    assert added.exit_code == 0, added.output
    assert "n1" in invoke("search", idx, "bees find flowers by scent", "-k", "3", "--json").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-backend", "onnx", "--model", "{model}"], "has no ONNX export"),  # no MODEL-onnx beside it
        (["--model-backend", "onnx", "--model", "{broken}"], "is missing from the export"),
        (["--model-backend", "tensorrt"], "model backend must be one of torch, onnx"),
        (["--backend", "onnx"], "pass --model-backend onnx"),
    ],
)
def test_onnx_backend_errors_are_one_line_with_exit_2(model_and_export, tmp_path, args, message):
    model, export = model_and_export
    idx = tmp_path / "idx"
    assert invoke("index", "build", SMALL, idx, "--model", model, "--shortlist-dim", "16").exit_code == 0
    lone = tmp_path / "lone"
    shutil.copytree(model, lone)
    broken = tmp_path / "broken"
    shutil.copytree(export, broken)
    (broken / "onnx" / "model.onnx").unlink()
    paths = {"model": lone, "broken": broken}
    result = invoke("search", idx, "bees", *[a.format(**{k: str(v) for k, v in paths.items()}) for a in args])
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    build = invoke("index", "build", SMALL, tmp_path / "new", "--model", lone, "--model-backend", "onnx")
    assert build.exit_code == 2 and "has no ONNX export" in build.output
    assert not (tmp_path / "new").exists()
