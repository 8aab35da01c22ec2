"""``mrlkit serve IDX``: the HTTP search service (loopback by default; any other address needs a key)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer


def serve_command(
    index: Annotated[Path, typer.Argument(help="The index folder.")],
    host: Annotated[str, typer.Option(help="Address to bind; not loopback needs an API key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    api_key_file: Annotated[
        Path | None, typer.Option(help="File whose first line is the API key (else $MRLKIT_API_KEY).")
    ] = None,
    rerank_model: Annotated[str | None, typer.Option(help="Cross-encoder for rerank: true requests.")] = None,
    rerank_weight: Annotated[
        float | None,
        typer.Option(help="Reranker's share of the score, 0-1 (default: the one stored with it, else 1)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Server processes, each loading the index.")] = 1,
    max_batch: Annotated[int, typer.Option(help="Most queries or texts per request.")] = 64,
    max_k: Annotated[int, typer.Option(help="Largest k.")] = 1000,
    max_text_chars: Annotated[int, typer.Option(help="Longest query or text.")] = 4096,
    max_body_bytes: Annotated[int, typer.Option(help="Largest request body.")] = 1 << 20,
    batching: Annotated[
        bool, typer.Option(help="Encode concurrent requests' texts together, in one encoder call.")
    ] = True,
    batch_max_texts: Annotated[int, typer.Option(help="Most texts in one batched encoder call.")] = 64,
    batch_wait_ms: Annotated[
        float, typer.Option(help="How long a request waits for others to join its batch (ms).")
    ] = 2.0,
    model: Annotated[str | None, typer.Option(help="Query with this copy of the index's model.")] = None,
    model_backend: Annotated[
        str | None,
        typer.Option(help="torch, or onnx: query with the model's ONNX export (default: the index's)."),
    ] = None,
) -> None:
    """Serve an index over HTTP: POST /search, POST /embed, GET /health, GET /index, docs at /docs."""
    from mrlkit.cli.app import _quiet_libraries, _user_errors
    from mrlkit.errors import require
    from mrlkit.serving.config import CONFIG_ENV, ServeConfig, read_api_key

    _quiet_libraries()
    with _user_errors():
        require("uvicorn", "serve", "mrlkit serve")
        cfg = ServeConfig(
            index=str(index),
            host=host,
            port=port,
            api_key=read_api_key(api_key_file),
            rerank_model=rerank_model,
            rerank_weight=rerank_weight,
            workers=workers,
            max_batch=max_batch,
            max_k=max_k,
            max_text_chars=max_text_chars,
            max_body_bytes=max_body_bytes,
            batching=batching,
            batch_max_texts=batch_max_texts,
            batch_wait_ms=batch_wait_ms,
            model=model,
            model_backend=model_backend,
        )
        from mrlkit.search import Index

        idx = Index.open(cfg.index, model=model, model_backend=model_backend)  # a bad index fails here
        if model or model_backend:
            _ = idx.encoder  # so does a model that is missing or not the index's, before the server starts
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    auth = "API key required" if cfg.api_key else "no API key (loopback only)"
    typer.echo(f"serving {index} on http://{host}:{port} ({auth}); docs: http://{host}:{port}/docs", err=True)
    os.environ[CONFIG_ENV] = json.dumps(cfg.to_json())
    uvicorn.run(
        "mrlkit.serving.service:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # mrlkit.access logs one JSON line per request instead
        timeout_graceful_shutdown=10,
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``mrlkit`` app."""
    app.command("serve")(serve_command)
