"""``mrlkit evaluate-search``: quality, agreement with exact search, speed and memory of each mode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def judged_paths(queries: Path, qrels: Path | None, split: str) -> tuple[Path, Path]:
    """The queries and qrels files: as given, or a BEIR folder's queries.jsonl and qrels/SPLIT.tsv.

    Raises:
        DataError: A file is missing.
    """
    from mrlkit.errors import DataError

    folder = queries if queries.is_dir() else None
    queries_path = folder / "queries.jsonl" if folder else queries
    qrels_path = qrels or (folder / "qrels" / f"{split}.tsv" if folder else None)
    if qrels_path is None or not qrels_path.is_file():
        raise DataError("qrels file not found", path=qrels_path or queries, fix="Pass --qrels FILE.tsv")
    if not queries_path.is_file():
        raise DataError(
            "queries file not found", path=queries_path, fix="Pass a queries.jsonl or a BEIR folder"
        )
    return queries_path, qrels_path


def evaluate_search_command(
    index: Annotated[Path, typer.Argument(help="The index folder.")],
    queries: Annotated[
        Path, typer.Option(help="queries.jsonl, or a BEIR folder (queries + qrels/SPLIT.tsv).")
    ],
    qrels: Annotated[Path | None, typer.Option(help="qrels TSV: query-id, doc-id, score.")] = None,
    split: Annotated[str, typer.Option(help="qrels split of a BEIR folder.")] = "test",
    modes: Annotated[
        str | None, typer.Option(help="Comma-separated modes (default: all the index has).")
    ] = None,
    k_prime: Annotated[int | None, typer.Option(help="Candidates rescored (default: tuned).")] = None,
    ef: Annotated[int | None, typer.Option(help="HNSW search list size (default: tuned).")] = None,
    output_dir: Annotated[Path | None, typer.Option(help="Write search_eval.json and .png here.")] = None,
) -> None:
    """Evaluate an index's modes on judged queries: nDCG@10, MRR@10, Recall@k, recall vs exact, QPS, bytes."""
    from mrlkit.cli.search import _quiet_libraries, _user_errors
    from mrlkit.search import Index
    from mrlkit.search.evaluate import evaluate_search, save_evaluation
    from mrlkit.search.tune_fusion import read_dev_set

    _quiet_libraries()
    with _user_errors():
        queries_path, qrels_path = judged_paths(queries, qrels, split)
        idx = Index.open(index)
        texts, judged = read_dev_set(idx, queries_path, qrels_path)
        wanted = [m.strip() for m in modes.split(",") if m.strip()] if modes else None
        results = evaluate_search(idx, texts, judged, wanted, k_prime=k_prime, ef=ef)
    columns = [
        "ndcg@10",
        "mrr@10",
        "recall@10",
        "recall@100",
        "recall_vs_exact@10",
        "qps_single",
        "qps_batch64",
    ]
    table = Table(
        title=f"{index}: {results['queries']} queries, {results['documents']} documents, "
        f"k'={results['k_prime']}"
    )
    table.add_column("mode")
    for column in [*columns, "RAM B/vec", "disk B/vec"]:
        table.add_column(column, justify="right")
    for mode, m in results["modes"].items():
        cells = [
            f"{m[c]:.4f}" if c in m and c.startswith(("ndcg", "mrr", "recall")) else f"{m.get(c, 0):.0f}"
            for c in columns
        ]
        table.add_row(mode, *cells, f"{m['ram_bytes_per_vector']:.0f}", f"{m['disk_bytes_per_vector']:.0f}")
    console.print(table)
    if output_dir is not None:
        paths = save_evaluation(results, output_dir)
        console.print("wrote " + ", ".join(map(str, paths)))
