"""``mrlkit index add | delete | compact | info``: change and inspect an existing index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mrlkit.cli.search import (
    MODEL_BACKEND_HELP,
    ColumnsOpt,
    IndexArg,
    _mapping,
    _quiet_libraries,
    _user_errors,
    console,
    index_app,
)


@index_app.command("add")
def add_command(
    index: IndexArg,
    file: Annotated[str, typer.Argument(help="Corpus file or BEIR folder with the new documents.")],
    upsert: Annotated[bool, typer.Option(help="Replace documents whose id is already in the index.")] = False,
    columns: ColumnsOpt = None,
    model: Annotated[str | None, typer.Option(help="Encode with this copy of the index's model.")] = None,
    model_backend: Annotated[
        str | None, typer.Option(help=MODEL_BACKEND_HELP + " Default: the index's.")
    ] = None,
) -> None:
    """Add documents to an index (atomically; ids already present need --upsert)."""
    from mrlkit.search import Index

    _quiet_libraries()
    with _user_errors():
        idx = Index.open(index, model=model, model_backend=model_backend)
        added = idx.add(file, upsert=upsert, columns=_mapping(columns))
    console.print(f"added {added} documents; {len(idx)} in the index")


@index_app.command("delete")
def delete_command(
    index: IndexArg,
    ids: Annotated[str | None, typer.Option(help="Comma-separated ids to delete.")] = None,
    ids_file: Annotated[Path | None, typer.Option(help="File with one id per line.")] = None,
) -> None:
    """Delete documents by id (atomically; every id must be in the index)."""
    from mrlkit.errors import ConfigError
    from mrlkit.search import Index

    with _user_errors():
        wanted = [i.strip() for i in (ids or "").split(",") if i.strip()]
        if ids_file is not None:
            if not ids_file.is_file():
                raise ConfigError(f"--ids-file {ids_file} not found")
            wanted += [
                line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        if not wanted:
            raise ConfigError("no ids given; pass --ids a,b or --ids-file FILE")
        idx = Index.open(index)
        deleted = idx.delete(wanted)
    console.print(f"deleted {deleted} documents; {len(idx)} left")


@index_app.command("info")
def info_command(
    index: IndexArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full info as JSON.")] = False,
) -> None:
    """Show an index's manifest, size on disk and estimated resident memory."""
    from mrlkit.search import Index

    with _user_errors():
        info = Index.open(index).info()
    if as_json:
        typer.echo(json.dumps(info, indent=1))
        return
    cfg, counts, disk, ram = info["config"], info["counts"], info["disk_bytes"], info["ram_bytes_estimate"]
    table = Table(title=str(index), show_header=False)
    rows = {
        "model": f"{info['model'].get('name')} (fingerprint {info['model'].get('fingerprint')})",
        "vectors": f"{counts['live']} live, {counts['deleted']} deleted, {len(info['segments'])} segment(s)",
        "dims": f"full {info['dim']} ({cfg['full_dtype']}), "
        f"shortlist {info['shortlist_dim']} ({cfg['quantization']})",
        "hnsw": f"{cfg['hnsw']} ({cfg['hnsw_backend']}, M={cfg['hnsw_m']})" if cfg["hnsw"] else "no",
        "tuned": json.dumps(info["tuned"]) if info["tuned"] else "no (mrlkit index tune)",
        "disk": ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in disk.items()),
        "RAM (resident)": f"{ram['resident'] / 1e6:.2f} MB ({ram['per_vector']} B/vector); full vectors "
        f"memory-mapped: {ram['memory_mapped_full_vectors'] / 1e6:.2f} MB",
        "format": f"version {info['format_version']}, updated {info['updated']}",
    }
    for key, value in rows.items():
        table.add_row(key, escape(value))
    console.print(table)


@index_app.command("compact")
def compact_command(index: IndexArg) -> None:
    """Rewrite an index as one segment without its deleted rows (atomically; rebuilds HNSW, BM25, sparse)."""
    from mrlkit.search import Index

    _quiet_libraries()
    with _user_errors():
        report = Index.open(index).compact()
    if not report["removed"] and report["segments_before"] <= 1:
        console.print(f"{index} is already compact ({report['rows_after']} rows, 1 segment)")
        return
    rebuilt = ", ".join(report["components"]) or "none"
    console.print(
        f"compacted {index}: {report['rows_before']} rows in {report['segments_before']} segment(s) -> "
        f"{report['rows_after']} in 1 ({report['removed']} deleted rows removed; rebuilt parts: {rebuilt}) "
        f"in {report['seconds']:.1f} s"
    )
