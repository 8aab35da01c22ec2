"""The Qdrant backend (qdrant-client's local mode) returns what the built-in index returns."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")

from mrlkit.errors import ConfigError  # noqa: E402
from mrlkit.search import Index, IndexConfig  # noqa: E402
from mrlkit.search.backends.qdrant import QdrantIndex, QdrantTarget, export_to_qdrant  # noqa: E402
from mrlkit.search.bm25 import BM25Config, build_bm25  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "search"
QUERIES = [
    "why does the sea level go up and down every day",
    "how do bees tell each other where flowers are",
    "what causes a volcano to erupt",
]


@pytest.fixture(scope="module", params=["edge", "client"])
def both(request, tmp_path_factory, tiny_model_path):
    if request.param == "edge":
        pytest.importorskip("qdrant_edge")
    root = tmp_path_factory.mktemp("qdrant")
    cfg = IndexConfig(shortlist_dim=32, quantization="float", full_dtype="fp32")
    idx = Index.build(root / "idx", FIXTURE, model=tiny_model_path, config=cfg)
    build_bm25(idx, BM25Config(language="en"))
    target = QdrantTarget(path=str(root / "qdrant"), engine=request.param)
    assert export_to_qdrant(idx, target) == 20
    qdrant = QdrantIndex(Index.open(root / "idx"))
    yield idx, qdrant
    qdrant.close()


@pytest.mark.parametrize("mode", ["exact", "funnel"])
def test_same_top_10_as_the_built_in_index(both, mode):
    idx, qdrant = both
    ours = idx.search(QUERIES, k=10, mode=mode, k_prime=20)
    theirs = qdrant.search(QUERIES, k=10, mode=mode, k_prime=20)
    for a, b in zip(ours, theirs, strict=True):
        assert [h.id for h in a] == [h.id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
        assert [h.text for h in a] == [h.text for h in b]


def test_hybrid_fuses_dense_and_bm25_on_the_server(both):
    idx, qdrant = both
    hits = qdrant.search(["bees flowers"], k=5, mode="hybrid", weights=[0.0, 1.0])[0]
    assert hits[0].id == "d07"  # the BM25 side alone: the document with "bees" and "flowers"
    ours = idx.search(QUERIES, k=10, mode="hybrid")
    theirs = qdrant.search(QUERIES, k=10, mode="hybrid")
    for a, b in zip(ours, theirs, strict=True):  # Qdrant's RRF ranks from 0, ours from 1: near, not equal
        assert len({h.id for h in a} & {h.id for h in b}) >= 8


def test_existing_collection_and_missing_copy(both, tmp_path, tiny_model_path):
    idx, qdrant = both
    qdrant.close()
    with pytest.raises(ConfigError, match="pass --overwrite"):
        export_to_qdrant(idx, QdrantTarget(path=qdrant.target.path, engine=qdrant.target.engine))
    qdrant.engine = qdrant.target.open()  # reopen for the fixture's teardown
    plain = Index.build(
        tmp_path / "plain", FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32)
    )
    with pytest.raises(ConfigError, match="no Qdrant copy"):
        QdrantIndex(plain)
    with pytest.raises(ConfigError, match="exactly one of"):
        QdrantTarget()


def test_cli_build_and_search_with_the_qdrant_backend(tmp_path, tiny_model_path):
    import json

    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    runner = CliRunner()
    idx, store = str(tmp_path / "idx"), str(tmp_path / "qdrant")
    args = [
        "index",
        "build",
        str(FIXTURE),
        idx,
        "--model",
        tiny_model_path,
        "--shortlist-dim",
        "32",
        "--bm25",
    ]
    result = runner.invoke(app, [*args, "--backend", "qdrant", "--qdrant-path", store])
    assert result.exit_code == 0, result.output
    query = "what causes a volcano to erupt"
    found = {}
    for backend in ("builtin", "qdrant"):
        result = runner.invoke(app, ["search", idx, query, "--mode", "exact", "--json", "--backend", backend])
        assert result.exit_code == 0, result.output
        found[backend] = [json.loads(line)["id"] for line in result.output.splitlines()]
    assert found["builtin"] == found["qdrant"]
    result = runner.invoke(app, [*args[:3], str(tmp_path / "other"), *args[4:], "--qdrant-path", store])
    assert result.exit_code == 2 and "need --backend qdrant" in result.output
