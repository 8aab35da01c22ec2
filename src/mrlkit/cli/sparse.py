"""Sparse encoders on the command line.

``mrlkit explain MODEL TEXT [DOCUMENT]``: top weighted tokens, or a query-document match explained;
``mrlkit index sparse IDX --model M``: add sparse document vectors to an index (``search --mode sparse``,
``--mode hybrid --retrievers dense,sparse[,bm25]``), and rewrite its Qdrant copy with them.
"""

from __future__ import annotations

from typing import Annotated

import typer


def explain_command(
    model: Annotated[str, typer.Argument(help="Sparse model folder or id (e.g. splade-tiny, OUT/model).")],
    text: Annotated[str, typer.Argument(help="A text; with DOCUMENT, the query.")],
    document: Annotated[
        str | None, typer.Argument(help="A document: show the tokens it shares with TEXT.")
    ] = None,
    top: Annotated[int, typer.Option(help="Tokens listed.")] = 20,
    query: Annotated[bool, typer.Option("--query", help="Encode a single TEXT as a query.")] = False,
) -> None:
    """List a text's top weighted tokens, or the tokens a query and a document share and their share."""
    from rich.table import Table

    from mrlkit.cli.app import _quiet_libraries, _user_errors, console
    from mrlkit.errors import ConfigError
    from mrlkit.evaluation.explain import explain_match, load_sparse_encoder, top_tokens

    _quiet_libraries()
    with _user_errors():
        if top <= 0:
            raise ConfigError(f"--top must be > 0, got {top}")
        encoder = load_sparse_encoder(model)
        if document is None:
            table = Table("token", "weight", title=f"top {top} tokens of {'query' if query else 'text'}")
            for token, weight in top_tokens(encoder, text, top, query=query):
                table.add_row(token, f"{weight:.3f}")
            console.print(table)
            return
        score, overlaps = explain_match(encoder, text, document, top)
    table = Table("token", "query", "document", "product", "share", title=f"score {score:.3f}")
    for o in overlaps:
        table.add_row(
            o.token, f"{o.query_weight:.3f}", f"{o.doc_weight:.3f}", f"{o.contribution:.3f}", f"{o.share:.1%}"
        )
    console.print(table)
    if not overlaps:
        console.print("no shared tokens: the score is 0")


def sparse_index_command(
    index: Annotated[str, typer.Argument(help="Index folder (built with stored texts).")],
    model: Annotated[str, typer.Option(help="Sparse encoder: splade-tiny or a finetune output's model/.")],
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 32,
    qdrant: Annotated[
        bool, typer.Option(help="Rewrite the index's Qdrant copy (if any) with the sparse vectors.")
    ] = True,
) -> None:
    """Encode the index's texts with a sparse encoder and store them (enables --mode sparse and fusion)."""
    from mrlkit.cli.app import _quiet_libraries, _user_errors, console
    from mrlkit.search import Index
    from mrlkit.search.sparse import build_sparse

    _quiet_libraries()
    with _user_errors():
        idx = Index.open(index)
        rows = build_sparse(idx, model, batch_size=batch_size)
        entry = idx.manifest.components["sparse"]
        copy = idx.manifest.components.get("qdrant")
        if qdrant and copy:
            import os

            from mrlkit.search.backends.qdrant import QdrantTarget, export_to_qdrant

            key = os.environ.get("QDRANT_API_KEY")
            target = QdrantTarget(
                copy["path"], copy["url"], key, copy["collection"], copy.get("engine", "client")
            )
            export_to_qdrant(idx, target, overwrite=True)
    console.print(
        f"sparse vectors of {rows} rows added to {index} ({entry['nnz'] / max(rows, 1):.0f} active dims, "
        f"{entry['bytes_per_vector']:.0f} bytes per vector); search with --mode sparse"
        + (f", and in its Qdrant copy (collection {copy['collection']})" if qdrant and copy else "")
    )


def register(app: typer.Typer) -> None:
    """Add ``explain`` and ``index sparse`` to the ``mrlkit`` app."""
    from mrlkit.cli.search import index_app

    app.command("explain")(explain_command)
    index_app.command("sparse")(sparse_index_command)
