"""``mrlkit train-reranker``: train a cross-encoder on finetune's data formats and report base vs tuned."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()


def train_reranker_command(
    data: Annotated[str, typer.Option(help="Training data: a file or a BEIR folder (same as finetune).")],
    output_dir: Annotated[str, typer.Option(help="Where model/ and report.md/json go.")] = "mrlkit-reranker",
    model: Annotated[
        str | None, typer.Option(help="Start model: a cross-encoder or an embedding model (default: MiniLM).")
    ] = None,
    first_stage_model: Annotated[
        str | None, typer.Option(help="Embedding model whose top hits the report reranks (default: MiniLM).")
    ] = None,
    first_stage_k: Annotated[
        int | None, typer.Option(help="First-stage hits reranked (default: 100).")
    ] = None,
    num_negatives: Annotated[
        int | None, typer.Option(help="Hard negatives mined per pair when the data has none (default: 3).")
    ] = None,
    negatives_index: Annotated[
        str | None, typer.Option(help="Take negatives from this mrlkit index's top hits instead of mining.")
    ] = None,
    mining_margin: Annotated[
        float | None,
        typer.Option(help="Mined negatives score this fraction below the positive (default: 0.05)."),
    ] = None,
    epochs: Annotated[float | None, typer.Option(help="Training epochs (default: 3).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size (default: 16).")] = None,
    learning_rate: Annotated[float | None, typer.Option(help="Learning rate (default: 5e-5).")] = None,
    warmup_ratio: Annotated[
        float | None, typer.Option(help="Share of steps over which the rate rises from 0 (default: 0.1).")
    ] = None,
    pos_weight: Annotated[
        float | None,
        typer.Option(help="Weight of positive pairs in the loss (default: negatives per positive)."),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many steps (default: the epochs).")
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Tokens per (query, passage) pair (default: 256).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: 42).")] = None,
    evaluate_base: Annotated[
        bool, typer.Option(help="Also score the untrained reranker (as long as scoring the trained one).")
    ] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace the model and report in --output-dir.")] = False,
) -> None:
    """Train a cross-encoder reranker; report nDCG@10 of the first stage's top 100 before and after.

    The share of the reranker in the final score (against the first stage's) is tuned on the dev split
    and stored with the model; `mrlkit search --rerank` and `mrlkit serve` use it.
    """
    from mrlkit.cli.app import _quiet_libraries, _user_errors
    from mrlkit.training.reranker import RerankerConfig, train_reranker

    _quiet_libraries()
    given: dict[str, Any] = {
        "model": model,
        "first_stage_model": first_stage_model,
        "first_stage_k": first_stage_k,
        "num_negatives": num_negatives,
        "mining_margin": mining_margin,
        "negatives_index": negatives_index,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup_ratio": warmup_ratio,
        "pos_weight": pos_weight,
        "max_steps": max_steps,
        "max_length": max_length,
        "seed": seed,
        "evaluate_base": evaluate_base,
    }
    with _user_errors():
        cfg = RerankerConfig(
            data=data,
            output_dir=output_dir,
            overwrite=overwrite,
            **{k: v for k, v in given.items() if v is not None},
        )
        result = train_reranker(cfg)
    for name, row in result.metrics.items():
        console.print(f"{name:>20}  nDCG@10 {row['ndcg@10']:.4f}  MRR@10 {row['mrr@10']:.4f}")
    console.print(f"rerank weight {result.meta['rerank_weight']['weight']} (stored with the model)")
    console.print(f"model: [bold]{result.model_path}[/bold]   report: {result.output_dir / 'report.md'}")


def register(app: typer.Typer) -> None:
    """Add the reranker commands to the ``mrlkit`` app."""
    app.command("train-reranker")(train_reranker_command)
