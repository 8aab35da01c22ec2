"""Helpers shared by the benchmark scripts: the reproduce line, machine info and result files."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).parent / "results"
console = Console()


def add_shared_arguments(p: argparse.ArgumentParser, note: str = "") -> None:
    """The flags both training benchmarks take: adaptor and kernels (``note`` adds to --adaptor's help)."""
    p.add_argument(
        "--adaptor",
        default="none",
        choices=["none", "orthogonal", "linear"],
        help=f"Matryoshka adaptor after training{note}",
    )
    p.add_argument("--adaptor-epochs", type=int, default=20)
    p.add_argument("--adaptor-lr", type=float, default=1e-3)
    p.add_argument("--adaptor-distill", type=float, default=0.0, help="adaptor_distill_weight (0: off)")
    p.add_argument(
        "--no-cpu-kernels",
        action="store_true",
        help="PyTorch's own dropout (cpu_kernels off), as every run recorded before cpu_kernels existed",
    )


def shared_settings(args: argparse.Namespace, adaptor: bool = True) -> dict[str, Any]:
    """FinetuneConfig values from :func:`add_shared_arguments`' flags (``adaptor``: include its part)."""
    settings: dict[str, Any] = {"cpu_kernels": not args.no_cpu_kernels}
    if adaptor:
        settings.update(
            adaptor=args.adaptor,
            adaptor_epochs=args.adaptor_epochs,
            adaptor_learning_rate=args.adaptor_lr,
            adaptor_distill_weight=args.adaptor_distill,
        )
    return settings


def command_line() -> str:
    """The command that reproduces this run, as typed from the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, sys.argv[1:])])


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json`` and say where."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    console.print(f"wrote {path}")
    console.print(f"reproduce: {payload['command']}")
    return path


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table with right-aligned numbers."""
    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r])
    return t
