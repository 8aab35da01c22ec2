"""``mrlkit index build|add|delete|info|tune`` and ``mrlkit search``: the search stage's commands.

Build options are generated from :class:`~mrlkit.search.config.IndexConfig` (as ``finetune``'s are from
``FinetuneConfig``), so a YAML ``--config`` and flags fill the same object.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
import typing
from contextlib import AbstractContextManager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mrlkit.cli.options import _cli_type
from mrlkit.search.config import IndexConfig

index_app = typer.Typer(no_args_is_help=True, help="Build, change, inspect and tune search indexes.")
console = Console()

IndexArg = Annotated[Path, typer.Argument(help="The index folder.")]
ColumnsOpt = Annotated[
    str | None, typer.Option(help="Column mapping as id=COLUMN,text=COLUMN[,title=COLUMN].")
]


def _user_errors() -> AbstractContextManager[None]:
    from mrlkit.cli.app import _user_errors as user_errors  # the app module registers this one

    return user_errors()


def _quiet_libraries() -> None:
    from mrlkit.cli.app import _quiet_libraries as quiet

    quiet()


def _default_note(default: Any) -> str:  # noqa: ANN401
    if default is None:
        return ""
    return f" [default: {default.value if isinstance(default, Enum) else default}]"


def _index_config_options() -> list[inspect.Parameter]:
    """One ``--flag`` per :class:`IndexConfig` field, defaulting to ``None`` (not given)."""
    hints = typing.get_type_hints(IndexConfig)
    params = []
    for f in dataclasses.fields(IndexConfig):
        cli_type, note = _cli_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        decls = [f"{flag}/--no-{f.name.replace('_', '-')}"] if cli_type is bool else [flag]
        option = typer.Option(
            None,
            *decls,
            help=escape(f"{f.metadata.get('help', '')}{note}{_default_note(f.default)}"),
            show_default=False,
        )
        annotation = typing.Optional[cli_type]  # noqa: UP045
        params.append(
            inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        )
    return params


def _mapping(columns: str | None) -> dict[str, str] | None:
    from mrlkit.config import parse_value

    return parse_value("columns", columns, dict[str, str]) if columns else None


MODEL_BACKEND_HELP = "torch, or onnx: encode with the model's mrlkit export --onnx folder (or MODEL-onnx)."


def _check_backend(backend: str) -> None:
    """Refuse a storage backend other than builtin/qdrant (pointing ONNX users at --model-backend)."""
    from mrlkit.errors import ConfigError

    if backend not in ("builtin", "qdrant"):
        hint = "; to encode with an ONNX export pass --model-backend onnx" if backend == "onnx" else ""
        raise ConfigError(
            f"--backend (where vectors are stored) must be builtin or qdrant, got {backend!r}{hint}"
        )


def _qdrant_target(backend: str, path: str | None, url: str | None, collection: str, engine: str) -> Any:  # noqa: ANN401
    """The Qdrant target of ``index build --backend qdrant`` (``None`` for the built-in backend)."""
    import os

    from mrlkit.errors import ConfigError

    _check_backend(backend)
    if backend == "builtin":
        if path or url:
            raise ConfigError("--qdrant-path / --qdrant-url need --backend qdrant")
        return None
    from mrlkit.search.backends.qdrant import QdrantTarget

    return QdrantTarget(path, url, os.environ.get("QDRANT_API_KEY"), collection, engine)


def _build(
    corpus: str,
    index: Path,
    *,
    model: str | None = None,
    model_backend: str = "torch",
    columns: str | None = None,
    overwrite: bool = False,
    config: Path | None = None,
    bm25: bool = False,
    bm25_language: str = "en",
    backend: str = "builtin",
    qdrant_path: str | None = None,
    qdrant_url: str | None = None,
    qdrant_collection: str = "mrlkit",
    qdrant_engine: str = "edge",
    **overrides: Any,  # noqa: ANN401
) -> None:
    from mrlkit.search import Index

    _quiet_libraries()
    start = time.perf_counter()
    with _user_errors():
        cfg = IndexConfig.load(config, **overrides)
        if bm25:
            from mrlkit.search.bm25 import BM25Config, build_bm25

            bm25_cfg = BM25Config(language=bm25_language)  # checked before the (long) build
        target = _qdrant_target(backend, qdrant_path, qdrant_url, qdrant_collection, qdrant_engine)
        idx = Index.build(
            index,
            corpus,
            model=model,
            config=cfg,
            columns=_mapping(columns),
            overwrite=overwrite,
            model_backend=model_backend,
        )
        if bm25:
            build_bm25(idx, bm25_cfg)
        if target is not None:
            from mrlkit.search.backends.qdrant import export_to_qdrant

            export_to_qdrant(idx, target, overwrite=overwrite)
    disk = idx.info()["disk_bytes"]["total"]
    console.print(
        f"indexed [bold]{len(idx)}[/bold] texts into {index} in {time.perf_counter() - start:.1f} s "
        f'({disk / 1e6:.1f} MB on disk); search it: mrlkit search {index} "your query"'
    )


def _signature() -> inspect.Signature:
    def arg(name: str, help_text: str, annotation: Any) -> inspect.Parameter:  # noqa: ANN401
        return inspect.Parameter(
            name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=annotation,
            default=typer.Argument(..., help=help_text),
        )

    def opt(name: str, annotation: Any, default: Any) -> inspect.Parameter:  # noqa: ANN401
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    return inspect.Signature(
        [
            arg("corpus", "Corpus: JSONL/CSV/TSV/Parquet with id and text columns, or a BEIR folder.", str),
            arg("index", "Index folder to write.", Path),
            opt("model", str | None, typer.Option(None, help="Model (hub id or folder; default MiniLM).")),
            opt("model_backend", str, typer.Option("torch", help=MODEL_BACKEND_HELP)),
            opt("columns", str | None, typer.Option(None, help="Column mapping as id=COL,text=COL.")),
            opt("overwrite", bool, typer.Option(False, help="Replace an existing index (atomically).")),
            opt(
                "config", Path | None, typer.Option(None, "--config", "-c", help="YAML settings; flags win.")
            ),
            opt("bm25", bool, typer.Option(False, help="Also build BM25 (enables --mode hybrid).")),
            opt("bm25_language", str, typer.Option("en", help="BM25 stop words and stemming language.")),
            opt(
                "backend", str, typer.Option("builtin", help="builtin, or qdrant (also write a Qdrant copy).")
            ),
            opt(
                "qdrant_path",
                str | None,
                typer.Option(None, help="Embedded Qdrant folder (--backend qdrant)."),
            ),
            opt(
                "qdrant_url",
                str | None,
                typer.Option(None, help="Qdrant server URL; key in $QDRANT_API_KEY."),
            ),
            opt("qdrant_collection", str, typer.Option("mrlkit", help="Qdrant collection name.")),
            opt(
                "qdrant_engine",
                str,
                typer.Option(
                    "edge", help="Engine for --qdrant-path: edge (qdrant-edge) or client (local mode)."
                ),
            ),
            *_index_config_options(),
        ]
    )


_build.__signature__ = _signature()  # type: ignore[attr-defined]
index_app.command("build", help="Encode a corpus and write a search index.")(_build)


def _read_queries(path: Path) -> list[str]:
    from mrlkit.data.beir import read_queries
    from mrlkit.errors import DataError

    if path.is_dir():
        path = path / "queries.jsonl"
    if not path.is_file():
        raise DataError(
            "queries file not found", path=path, fix="Pass a .txt (one per line) or queries.jsonl"
        )
    if path.suffix in (".jsonl", ".json"):
        return list(read_queries(path).values())
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@index_app.command("tune")
def tune_command(
    index: IndexArg,
    recall: Annotated[float, typer.Option(help="Target recall@k against exact search.")] = 0.99,
    k: Annotated[int, typer.Option(help="The k of recall@k.")] = 10,
    queries: Annotated[
        Path | None,
        typer.Option(help="Sample queries: .txt, queries.jsonl or a BEIR folder (default: corpus)."),
    ] = None,
    sample: Annotated[int, typer.Option(help="Sample queries used at most.")] = 200,
) -> None:
    """Store the smallest k' (and HNSW ef) whose results reach the recall target."""
    from mrlkit.search import Index, tune_index

    _quiet_libraries()
    with _user_errors():
        idx = Index.open(index)
        texts = _read_queries(queries) if queries is not None else None
        tuned = tune_index(idx, texts, recall=recall, k=k, sample=sample)
    console.print(f"stored in the manifest: {json.dumps(tuned)}")


def search_command(
    index: IndexArg,
    query: Annotated[str, typer.Argument(help="The query text.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Results to return.")] = 10,
    mode: Annotated[
        str, typer.Option(help="exact, funnel, hnsw, hybrid (fuses --retrievers) or sparse.")
    ] = "funnel",
    k_prime: Annotated[int | None, typer.Option(help="Candidates rescored (default: tuned).")] = None,
    ef: Annotated[int | None, typer.Option(help="HNSW search list size (default: tuned).")] = None,
    model: Annotated[str | None, typer.Option(help="Query with this copy of the index's model.")] = None,
    allow_model_mismatch: Annotated[
        bool, typer.Option(help="Search even if the model's fingerprint differs.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON lines.")] = False,
    fusion: Annotated[str | None, typer.Option(help="Hybrid fusion: rrf or dbsf (default: tuned).")] = None,
    weights: Annotated[
        str | None, typer.Option(help="Hybrid weights, one per retriever, e.g. 1,0.5 (default: tuned).")
    ] = None,
    retrievers: Annotated[
        str | None,
        typer.Option(help="Hybrid: lists fused, some of dense,sparse,bm25 (sparse: index sparse)."),
    ] = None,
    rerank: Annotated[str | None, typer.Option(help="Cross-encoder (hub id or folder) reranking.")] = None,
    rerank_top_n: Annotated[int, typer.Option(help="First-stage hits the reranker scores.")] = 100,
    rerank_weight: Annotated[
        float | None,
        typer.Option(help="Reranker's share of the score, 0-1 (default: the one stored with it, else 1)."),
    ] = None,
    backend: Annotated[str, typer.Option(help="builtin, or qdrant (the index's Qdrant copy).")] = "builtin",
    model_backend: Annotated[
        str | None, typer.Option(help=MODEL_BACKEND_HELP + " Default: the index's.")
    ] = None,
) -> None:
    """Search an index with one query."""
    from mrlkit.errors import ConfigError
    from mrlkit.search import Index

    _quiet_libraries()
    with _user_errors():
        if not query.strip():
            raise ConfigError("the query is empty; pass some text")
        _check_backend(backend)
        idx = Index.open(
            index, model=model, allow_model_mismatch=allow_model_mismatch, model_backend=model_backend
        )
        start = time.perf_counter()
        from mrlkit.config import parse_value

        weight_list = parse_value("weights", weights, list[float]) if weights else None
        first = max(k, rerank_top_n) if rerank else k
        if backend == "qdrant":
            import os

            from mrlkit.search.backends.qdrant import QdrantIndex

            qdrant = QdrantIndex(idx, api_key=os.environ.get("QDRANT_API_KEY"))
            hits = qdrant.search(
                [query],
                k=first,
                mode=mode,
                k_prime=k_prime,
                fusion=fusion,
                weights=weight_list,
                retrievers=retrievers,
            )[0]
        else:
            hits = idx.search(
                [query],
                k=first,
                mode=mode,
                k_prime=k_prime,
                ef=ef,
                fusion=fusion,
                weights=weight_list,
                retrievers=retrievers,
            )[0]
        if rerank:
            from mrlkit.search.rerank import Reranker

            reranker = Reranker(rerank, weight=rerank_weight)
            hits = reranker.rerank([query], [hits], k=k, top_n=rerank_top_n)[0]
        hits = hits[:k]
        seconds = time.perf_counter() - start
    if as_json:
        for hit in hits:
            typer.echo(json.dumps(dataclasses.asdict(hit), ensure_ascii=False))
        return
    table = Table(title=f"{escape(query)} ({mode}, {seconds * 1000:.1f} ms with encoding)")
    for column in ("rank", "score", "id", "text"):
        table.add_column(column)
    for hit in hits:
        text = (hit.text or "")[:120]
        table.add_row(str(hit.rank), f"{hit.score:.4f}", escape(hit.id), escape(text))
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``index`` and ``search`` to the ``mrlkit`` app."""
    from mrlkit.cli import index_changes  # noqa: F401 - registers index add, delete, compact and info

    app.add_typer(index_app, name="index")
    app.command("search", help="Search an index with one query.")(search_command)
    from mrlkit.cli.search_eval import advise_command, evaluate_search_command

    app.command("evaluate-search")(evaluate_search_command)
    app.command("advise")(advise_command)
