"""Request batching: concurrent requests share one encoder call and get what unbatched calls get."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from mrlkit.errors import ConfigError
from mrlkit.serving.batching import EncodeBatcher, ShuttingDown

FIXTURE = Path(__file__).parent / "fixtures" / "search"


class FakeEncoder:
    """Row of text ``tN`` is ``[N, query]``; records the size and kind of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str], query: bool) -> np.ndarray:
        with self.lock:
            self.calls.append((len(texts), query))
        if any(t == "bad" for t in texts):
            raise ValueError("cannot encode 'bad'")
        return np.array([[int(t[1:]), int(query)] for t in texts], dtype=np.float32)


def _submit_all(batcher: EncodeBatcher, jobs: list[tuple[list[str], bool]]) -> list[object]:
    def one(job: tuple[list[str], bool]) -> object:
        try:
            return batcher.encode(*job)
        except Exception as exc:  # noqa: BLE001 - returned for the test to inspect
            return exc

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_concurrent_jobs_share_one_call_and_get_their_own_rows():
    fake = FakeEncoder()
    jobs = [([f"t{10 * i + j}" for j in range(i + 1)], True) for i in range(5)]  # 15 texts
    batcher = EncodeBatcher(fake, max_texts=15, max_wait_ms=1000)  # full batch: no waiting for the time
    results = _submit_all(batcher, jobs)
    batcher.close()
    assert fake.calls == [(15, True)]
    for (texts, _), rows in zip(jobs, results, strict=True):
        assert rows.tolist() == [[int(t[1:]), 1] for t in texts]
    assert batcher.requests == 5


def test_kinds_are_encoded_apart_and_batches_respect_max_texts():
    fake = FakeEncoder()
    jobs = [([f"t{i}", f"t{i + 100}"], i % 2 == 0) for i in range(6)]  # 12 texts, 6 queries + 6 documents
    batcher = EncodeBatcher(fake, max_texts=4, max_wait_ms=50)
    results = _submit_all(batcher, jobs)
    batcher.close()
    assert all(size <= 4 for size, _ in fake.calls)
    assert sum(size for size, _ in fake.calls) == 12
    for (texts, query), rows in zip(jobs, results, strict=True):
        assert rows.tolist() == [[int(t[1:]), int(query)] for t in texts]


def test_a_failing_request_does_not_fail_the_others():
    fake = FakeEncoder()
    jobs = [(["t1"], True), (["bad"], True), (["t2", "t3"], True)]
    batcher = EncodeBatcher(fake, max_texts=4, max_wait_ms=1000)
    ok1, bad, ok2 = _submit_all(batcher, jobs)
    batcher.close()
    assert isinstance(bad, ValueError) and "cannot encode 'bad'" in str(bad)
    assert ok1.tolist() == [[1, 1]] and ok2.tolist() == [[2, 1], [3, 1]]
    assert fake.calls[0] == (4, True) and len(fake.calls) == 4  # the batch, then each alone


def test_a_closed_batcher_refuses_new_work():
    batcher = EncodeBatcher(FakeEncoder(), max_texts=4, max_wait_ms=0)
    assert batcher.encode(["t7"], query=False).tolist() == [[7, 0]]
    batcher.close()
    with pytest.raises(ShuttingDown, match="shutting down"):
        batcher.encode(["t1"], query=True)


def test_batching_settings_are_checked():
    from mrlkit.serving import ServeConfig

    with pytest.raises(ConfigError, match="batch_max_texts must be > 0"):
        ServeConfig(index="x", batch_max_texts=0)
    with pytest.raises(ConfigError, match=r"batch_wait_ms in \[0, 1000\], got 64 and -1"):
        ServeConfig(index="x", batch_wait_ms=-1)


# ----------------------------------------------------------------- through the service
SEARCHES = [
    {"query": "why does the sea level go up and down every day", "k": 5, "mode": "exact"},
    {"query": "how do bees tell each other where flowers are", "k": 3, "mode": "funnel"},
    {"queries": ["what causes a volcano to erupt", "bees"], "k": 4, "mode": "hybrid"},
    {"queries": ["volcano lava", "tides and the moon", "pollen"], "k": 10, "mode": "exact"},
]
EMBEDS = [
    {"texts": ["the moon pulls the sea", "honey"], "dim": 16, "query": True},
    {"texts": ["a document about volcanoes"], "query": False},
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_model_path):
    from mrlkit.search import Index, IndexConfig
    from mrlkit.search.bm25 import build_bm25

    path = tmp_path_factory.mktemp("batching") / "idx"
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    build_bm25(idx)
    return path


def test_concurrent_requests_are_batched_and_match_direct_calls(built):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mrlkit.search import Index
    from mrlkit.serving import ServeConfig, create_app

    queries = sum(len(b.get("queries", [b.get("query")])) for b in SEARCHES) + len(EMBEDS[0]["texts"])
    texts = queries + len(EMBEDS[1]["texts"])
    # every text fits one batch, so it closes as soon as the last request arrives (1 s at most)
    app = create_app(ServeConfig(index=str(built), batch_max_texts=texts, batch_wait_ms=1000))
    client = TestClient(app)
    calls = [("/search", body) for body in SEARCHES] + [("/embed", body) for body in EMBEDS]
    with ThreadPoolExecutor(len(calls)) as pool:
        answers = list(pool.map(lambda call: client.post(*call[:1], json=call[1]), calls))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    batcher = app.state.service.batcher
    assert batcher.requests == len(calls)
    assert batcher.calls == 2  # one call for the query texts, one for the document texts

    direct = Index.open(built)
    for body, answer in zip(SEARCHES, answers, strict=False):
        got = answer.json()["results"]
        want = direct.search(body.get("queries") or [body["query"]], k=body["k"], mode=body["mode"])
        for g, w in zip(got, want, strict=True):
            assert [(h["id"], h["rank"], h["text"]) for h in g] == [(h.id, h.rank, h.text) for h in w]
            assert [h["score"] for h in g] == pytest.approx([h.score for h in w], abs=1e-5)
    for body, answer in zip(EMBEDS, answers[len(SEARCHES) :], strict=True):
        want = direct.encoder.encode(body["texts"], query=body["query"])[:, : body.get("dim", 64)]
        want /= np.linalg.norm(want, axis=1, keepdims=True)
        assert np.allclose(answer.json()["embeddings"], want, atol=1e-5)


def test_unbatched_service_gives_the_same_answers(built):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from mrlkit.serving import ServeConfig, create_app

    answers = {}
    for batching in (True, False):
        app = create_app(ServeConfig(index=str(built), batching=batching))
        assert (app.state.service.batcher is None) is not batching
        with TestClient(app) as client:  # runs the lifespan: the batcher stops on shutdown
            answers[batching] = [client.post("/search", json=body).json()["results"] for body in SEARCHES]
    for a, b in zip(answers[True], answers[False], strict=True):
        assert [[h["id"] for h in q] for q in a] == [[h["id"] for h in q] for q in b]
