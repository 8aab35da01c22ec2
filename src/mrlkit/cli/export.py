"""``mrlkit export`` (ONNX with a parity report) and ``mrlkit mteb`` (MTEB on local retrieval data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export_command(
    model: Annotated[str, typer.Argument(help="Model folder (e.g. OUTPUT_DIR/model) or hub id.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (the one format for now).")] = False,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also write an fp16 graph (GPU serving).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write an int8 graph (CPU serving).")] = False,
    opset: Annotated[int, typer.Option(help="ONNX opset.")] = 17,
    output_dir: Annotated[Path | None, typer.Option(help="Export folder (default: MODEL-onnx).")] = None,
    eval_data: Annotated[
        str | None, typer.Option(help="Data scored torch vs ONNX per dim (default: shipped SciFact excerpt).")
    ] = None,
    dims: Annotated[str | None, typer.Option(help="Dims scored (default: full, powers of 2).")] = None,
    parity_texts: Annotated[int, typer.Option(help="Texts compared by cosine.")] = 64,
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 32,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing export.")] = False,
    int8_exclude: Annotated[
        str,
        typer.Option(help="ffn-out: keep feed-forward down-projections fp32 (parity); none: all int8."),
    ] = "ffn-out",
) -> None:
    """Export a model to ONNX (fp32, plus fp16 or int8) and write parity.md/json into the export folder."""
    from mrlkit.cli.app import _quiet_libraries, _user_errors, console
    from mrlkit.config import parse_value
    from mrlkit.errors import ConfigError

    _quiet_libraries()
    with _user_errors():
        if not onnx:
            raise ConfigError("choose a format: --onnx (the only one so far)")
        from mrlkit.export import export_onnx

        result = export_onnx(
            model,
            output_dir,
            fp16=fp16,
            int8=int8,
            opset=opset,
            eval_data=eval_data,
            dims=parse_value("dims", dims, list[int]) if dims else None,
            parity_texts=parity_texts,
            batch_size=batch_size,
            overwrite=overwrite,
            int8_exclude=int8_exclude,
        )
    console.print(result.parity.markdown())
    console.print(f"export: [bold]{result.output_dir}[/bold]   files: {result.files}")
    console.print(
        f"load it: mrlkit.export.load_onnx_model('{result.output_dir}', '{result.served}', truncate_dim=64)"
    )


def mteb_command(
    model: Annotated[str, typer.Argument(help="Model folder or hub id.")],
    data: Annotated[str, typer.Option(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.")],
    dims: Annotated[str | None, typer.Option(help="Dims (default: full, then powers of 2 to 32).")] = None,
    split: Annotated[str, typer.Option(help="qrels file scored as MTEB's test split.")] = "test",
    lang: Annotated[str, typer.Option(help="MTEB language code of the data, e.g. cmn-Hans.")] = "eng-Latn",
    output_dir: Annotated[Path, typer.Option(help="MTEB result files and mteb_summary.json.")] = Path(
        "mrlkit-mteb"
    ),
    batch_size: Annotated[int, typer.Option(help="Encoding batch size.")] = 32,
) -> None:
    """Run MTEB's retrieval evaluation on your own BEIR folder at every Matryoshka dim."""
    from mrlkit.cli.app import _quiet_libraries, _user_errors, console
    from mrlkit.config import parse_value

    _quiet_libraries()
    with _user_errors():
        from mrlkit.evaluation.mteb_eval import SUMMARY_METRICS, run_mteb

        scores = run_mteb(
            model,
            data,
            output_dir,
            dims=parse_value("dims", dims, list[int]) if dims else None,
            split=split,
            lang=lang,
            batch_size=batch_size,
        )
    console.print("| dim | " + " | ".join(SUMMARY_METRICS) + " |")
    for dim, row in scores.items():
        console.print(
            f"| {dim} | " + " | ".join(f"{row.get(m, float('nan')):.4f}" for m in SUMMARY_METRICS) + " |"
        )
    console.print(f"MTEB result files: {output_dir}/dim<d>/   summary: {output_dir / 'mteb_summary.json'}")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``mteb`` to the ``mrlkit`` app."""
    app.command("export")(export_command)
    app.command("mteb")(mteb_command)
