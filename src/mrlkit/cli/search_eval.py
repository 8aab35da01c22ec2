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


def advise_command(
    data: Annotated[
        Path, typer.Option(help="BEIR folder with your judged queries (queries, corpus, qrels).")
    ],
    model: Annotated[
        str, typer.Option(help="Model: hub id or folder.")
    ] = "sentence-transformers/all-MiniLM-L6-v2",
    target: Annotated[float, typer.Option(help="Keep at least this share of exact full-dim nDCG@10.")] = 0.99,
    split: Annotated[str, typer.Option(help="qrels split to evaluate on.")] = "test",
    dims: Annotated[
        str | None, typer.Option(help="Shortlist dims (default: trained dims or 32-256).")
    ] = None,
    quantizations: Annotated[str, typer.Option(help="Shortlist quantisations to try.")] = "binary,int8,float",
    k_primes: Annotated[str, typer.Option(help="Candidate counts to try.")] = "20,50,100,200,500,1000",
    hnsw: Annotated[bool, typer.Option(help="Also try an HNSW graph over the shortlist.")] = True,
    output_dir: Annotated[
        Path | None, typer.Option(help="Write advice.json, advice.png, index.yaml.")
    ] = None,
) -> None:
    """Find the cheapest shortlist (dim, quantisation, k', HNSW) keeping TARGET x exact nDCG@10."""
    import json

    from mrlkit.cli.search import _quiet_libraries, _user_errors
    from mrlkit.config import parse_value
    from mrlkit.search.advise import advise, plot_advice

    _quiet_libraries()
    with _user_errors():
        advice = advise(
            model,
            data,
            target=target,
            split=split,
            dims=parse_value("dims", dims, list[int]) if dims else None,
            quantizations=parse_value("quantizations", quantizations, list[str]),
            k_primes=parse_value("k_primes", k_primes, list[int]),
            hnsw=(False, True) if hnsw else (False,),
        )
    exact = advice.exact
    console.print(
        f"exact ({exact['ram_bytes_per_vector']:.0f} B/vector in RAM): nDCG@10 {exact['ndcg@10']:.4f}, "
        f"{exact['qps_single']:.0f} queries/s; {len(advice.rows)} configurations measured"
    )
    if advice.chosen is None:
        console.print(f"no configuration kept {target} x exact nDCG@10; lower --target or add dims / k'")
    else:
        c = advice.chosen
        console.print(
            f"[bold]cheapest at >= {target} x exact:[/bold] shortlist {c['shortlist_dim']} dims "
            f"{c['quantization']}, {'HNSW' if c['hnsw'] else 'flat scan'}, k'={c['k_prime']}: nDCG@10 "
            f"{c['ndcg@10']:.4f} ({c['retention']:.1%}), {c['qps_single']:.0f} queries/s, "
            f"{c['ram_bytes_per_vector']:.0f} B/vector in RAM, {c['disk_bytes_per_vector']:.0f} on disk"
        )
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "advice.json").write_text(
            json.dumps(
                {"target": target, "exact": exact, "chosen": advice.chosen, "rows": advice.rows}, indent=1
            )
        )
        plot_advice(advice, output_dir / "advice.png")
        if advice.chosen is not None:
            advice.save_config(output_dir / "index.yaml")
            console.print(
                f"build with it: mrlkit index build CORPUS INDEX --config {output_dir / 'index.yaml'}"
            )
        console.print(f"wrote {output_dir}/advice.json, advice.png")
