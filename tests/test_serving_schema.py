"""Property test of the service against its own OpenAPI schema: no input makes it answer 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "search"


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, tiny_model_path):
    from mrlkit.search import Index, IndexConfig
    from mrlkit.search.bm25 import build_bm25
    from mrlkit.serving import ServeConfig, create_app

    path = tmp_path_factory.mktemp("schema") / "idx"
    idx = Index.build(path, FIXTURE, model=tiny_model_path, config=IndexConfig(shortlist_dim=32))
    build_bm25(idx)
    app = create_app(ServeConfig(index=str(path), max_batch=4, max_text_chars=100, max_k=30))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema):
    from hypothesis import given

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/search", "/embed", "/health", "/index"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_5xx(case):
            case.call_and_validate(checks=[not_a_server_error])

        no_5xx()
