"""``mrlkit`` commands: quickstart, finetune, evaluate, data check."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from mrlkit.cli.export import register as register_export_commands
from mrlkit.cli.options import with_config_options
from mrlkit.cli.recipes import recipes_app
from mrlkit.errors import MissingExtraError, MrlkitError

if TYPE_CHECKING:
    from mrlkit.training.finetune import FinetuneResult

app = typer.Typer(no_args_is_help=True, add_completion=True, help="Matryoshka fine-tuning and evaluation.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect training data.")
app.add_typer(data_app, name="data")
app.add_typer(recipes_app, name="recipes")
console = Console()


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn bad input into one unwrapped ``error: ...`` line on stderr and exit code 2."""
    try:
        yield
    except (MrlkitError, MissingExtraError) as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(code=2) from None


def _print_result(result: FinetuneResult) -> None:
    if result.report is None:  # not the main process of a multi-process run: it prints nothing
        return
    console.print(result.report.rich_table())
    console.print(f"model: [bold]{result.model_path}[/bold]   report: {result.output_dir / 'report.md'}")


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for name in ("sentence_transformers", "transformers", "datasets", "httpx", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import transformers

    transformers.utils.logging.disable_progress_bar()  # weight-loading bars; training bars stay


def _print_data(lines: list[str]) -> None:
    """The run-time data summary: what was read, dropped, held out, mined, truncated and trains."""
    console.print("[bold]data[/bold] " + "\n     ".join(lines), highlight=False)


def _print_base(metrics: dict[int, dict[str, float]]) -> None:
    main = "ndcg@10" if "ndcg@10" in next(iter(metrics.values()), {}) else "spearman"
    cells = "  ".join(f"{d}: {m[main]:.4f}" for d, m in metrics.items())
    console.print(f"[bold]base model[/bold] {main} per dim — {cells}")


def _print_version(value: bool) -> None:
    if value:
        from mrlkit import __version__

        typer.echo(f"mrlkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Matryoshka fine-tuning and evaluation."""


def _run_finetune(config: Path | None = None, recipe: str | None = None, **overrides: Any) -> None:  # noqa: ANN401
    from mrlkit.config import FinetuneConfig
    from mrlkit.training import finetune

    _quiet_libraries()
    with _user_errors():
        cfg = FinetuneConfig.load(config, recipe=recipe, **overrides)
        if not cfg.data:
            raise MrlkitError("no training data given; pass --data FILE_OR_BEIR_DIR (or data: in --config)")
        result = finetune(cfg, on_base_done=_print_base, on_data_ready=_print_data)
    _print_result(result)


finetune_command = with_config_options(_run_finetune)
app.command(
    "finetune",
    help="Fine-tune a model with Matryoshka loss and report every dim, base vs tuned.",
    epilog="Every option explained, with the benchmarks behind it: docs/finetuning-options.md",
)(finetune_command)


@app.command("quickstart")
def quickstart_command(
    output_dir: Annotated[Path, typer.Option(help="Where to write the model and report.")] = Path(
        "mrlkit-quickstart"
    ),
    epochs: Annotated[float | None, typer.Option(help="Override the quickstart's 2 epochs.")] = None,
) -> None:
    """Fine-tune the default model on the shipped SciFact excerpt and print base vs tuned."""
    from mrlkit.api import SAMPLE_DIR, quickstart

    _quiet_libraries()
    console.print(
        f"Fine-tuning sentence-transformers/all-MiniLM-L6-v2 on {SAMPLE_DIR.name} (SciFact excerpt)"
    )
    with _user_errors():
        result = quickstart(output_dir, on_base_done=_print_base, on_data_ready=_print_data, epochs=epochs)
    _print_result(result)
    console.print(f"load it: SentenceTransformer('{result.model_path}', truncate_dim=64)")
    if result.report is not None:
        _print_quickstart_search(result)


def _print_quickstart_search(result: FinetuneResult) -> None:
    """Index the sample with the tuned model and show one held-out query's hits, funnel vs exact."""
    from mrlkit.api import quickstart_search

    try:
        import faiss  # noqa: F401
    except ImportError:
        console.print('index and search with it: pip install -e ".[search]" (docs/search.md)')
        return
    with _user_errors():
        found = quickstart_search(result)
    index, funnel, exact = found["index"], found["funnel"], found["exact"]
    cfg, ram = index.config, index.info()["ram_bytes_estimate"]["per_vector"]
    console.print(
        f"[bold]search[/bold] {len(index)} sample documents indexed in {index.path}: "
        f"a {cfg.shortlist_dim}-dim {cfg.quantization.value} shortlist ({ram:g} B/vector in RAM), "
        f"its top k'={found['tuned']['k_prime']} (tuned: recall@10 >= 0.99) rescored at {index.manifest.dim} "
        f"dims. Held-out query: {found['query']!r}",
        highlight=False,
    )
    for hit in funnel:
        mark = "relevant" if hit.id in found["relevant"] else ""
        text = (hit.text or "").replace("\n", " ")[:60]
        line = f"  {hit.rank}. {hit.score:.3f} {hit.id:>9} {mark:8} {text}"
        console.print(line, highlight=False, markup=False)
    same = [h.id for h in funnel] == [h.id for h in exact]
    console.print(
        f"funnel top {len(funnel)} {'equals' if same else 'differs from'} exact full-dim search; "
        f'search it: mrlkit search {index.path} "your question"',
        highlight=False,
    )


@app.command("evaluate")
def evaluate_command(
    model: Annotated[str, typer.Option(help="Model to evaluate: hub id or directory.")],
    data: Annotated[str, typer.Option(help="Evaluation data: a file or a BEIR folder.")],
    base: Annotated[str | None, typer.Option(help="Base model to compare against.")] = None,
    dims: Annotated[
        str | None, typer.Option(help="Comma-separated dims (default: full, then powers of 2 to 32).")
    ] = None,
    split: Annotated[str, typer.Option(help="BEIR qrels split to evaluate on.")] = "test",
    columns: Annotated[str | None, typer.Option(help="Column mapping as name=column,name=column.")] = None,
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 64,
    output_dir: Annotated[Path | None, typer.Option(help="Write report.md/json/png here.")] = None,
) -> None:
    """Score a model (optionally against a base model) at every dim: nDCG, MRR, MAP, recall or Spearman."""
    from mrlkit.api import evaluate
    from mrlkit.config import parse_value

    _quiet_libraries()
    with _user_errors():
        dim_list = parse_value("dims", dims, list[int]) if dims else None
        mapping = parse_value("columns", columns, dict[str, str]) if columns else None
        report = evaluate(
            model,
            data,
            base=base,
            dims=dim_list,
            split=split,
            columns=mapping,
            batch_size=batch_size,
            output_dir=output_dir,
        )
    console.print(report.rich_table())
    if output_dir is not None:
        console.print(f"report: {output_dir / 'report.md'}")


@data_app.command("check")
def data_check_command(
    path: Annotated[str, typer.Argument(help="A JSONL/CSV/TSV/Parquet file or a BEIR folder.")],
    columns: Annotated[str | None, typer.Option(help="Column mapping as name=column,name=column.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="Force a layout: pairs, triplets, scored, query-pos-neg, beir.")
    ] = None,
    score_range: Annotated[str | None, typer.Option(help="Score range LO,HI mapped to [0, 1].")] = None,
    eval_fraction: Annotated[float, typer.Option(help="Share of anchors held out as dev.")] = 0.1,
    test_fraction: Annotated[
        float, typer.Option(help="Share of anchors held out as test (0: the report would score dev).")
    ] = 0.1,
) -> None:
    """Load training data as finetune would and show what was found."""
    from mrlkit.config import parse_value
    from mrlkit.data import describe, load_data

    with _user_errors():
        mapping = parse_value("columns", columns, dict[str, str]) if columns else None
        lo_hi = parse_value("score_range", score_range, list[float]) if score_range else [0.0, 1.0]
        data = load_data(
            path,
            kind=kind,
            columns=mapping,
            score_range=(lo_hi[0], lo_hi[1]),
            eval_fraction=eval_fraction,
            test_fraction=test_fraction,
        )
    console.print(describe(data))


from mrlkit.cli.search import register as _register_search  # noqa: E402 - after _user_errors

_register_search(app)

from mrlkit.cli.rerank import register as _register_rerank  # noqa: E402

_register_rerank(app)

from mrlkit.cli.hybrid import register as _register_hybrid  # noqa: E402

_register_hybrid(app)

from mrlkit.cli.serve import register as _register_serve  # noqa: E402

_register_serve(app)


register_export_commands(app)

from mrlkit.cli.sparse import register as _register_sparse  # noqa: E402

_register_sparse(app)


def main() -> None:
    """Console-script entry point."""
    app()
