"""Helpers shared by the benchmark scripts: the reproduce line, provenance and result files.

Overwrite rule for ``benchmarks/results/<name>.json`` (:func:`check_writable`, :data:`OVERWRITE_RULE`):
a new name is written; an existing file is replaced only when it was written by the same command and
``--overwrite`` is given. A different command never replaces it: pick another ``--name``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
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
    kernels = p.add_mutually_exclusive_group()
    kernels.add_argument("--cpu-kernels", action="store_true", help="mrlkit's CPU dropout/attention kernels")
    # the default since the kernels became opt-in; still accepted so recorded commands run as they did
    kernels.add_argument("--no-cpu-kernels", dest="cpu_kernels", action="store_false", help=argparse.SUPPRESS)


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    """The ``--overwrite`` flag of :func:`check_writable`."""
    p.add_argument(
        "--overwrite", action="store_true", help=f"replace this command's own file. {OVERWRITE_RULE}"
    )


def shared_settings(args: argparse.Namespace, adaptor: bool = True) -> dict[str, Any]:
    """FinetuneConfig values from :func:`add_shared_arguments`' flags (``adaptor``: include its part)."""
    settings: dict[str, Any] = {"cpu_kernels": args.cpu_kernels}
    if adaptor:
        settings.update(
            adaptor=args.adaptor,
            adaptor_epochs=args.adaptor_epochs,
            adaptor_learning_rate=args.adaptor_lr,
            adaptor_distill_weight=args.adaptor_distill,
        )
    return settings


def command_line() -> str:
    """The command that reproduces this run, as typed from the repository root (without ``--overwrite``)."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    argv = [a for a in sys.argv[1:] if a != "--overwrite"]
    return " ".join(["python", shlex.quote(str(script)), *map(shlex.quote, argv)])


OVERWRITE_RULE = (
    "Results files: a new --name is written; an existing file is replaced only by the command that "
    "wrote it, with --overwrite."
)


class ResultFileExists(SystemExit):
    """Refusal to replace a results file (exit status 2); ``str()`` is the one-line message."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def check_writable(name: str, overwrite: bool = False, command: str | None = None) -> Path:
    """Path of results file ``name``, or :class:`ResultFileExists` if :data:`OVERWRITE_RULE` forbids it.

    Call it before a long run, so that a refused name costs nothing; :func:`write_result` checks again.
    """
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return path
    command = command or command_line()
    try:
        recorded = json.loads(path.read_text()).get("command")
    except (OSError, json.JSONDecodeError, AttributeError):
        recorded = None
    if recorded != command:
        message = (
            f"error: {path} was written by another command ({recorded!r}); "
            "fix: choose another --name for this run"
        )
    elif not overwrite:
        message = f"error: {path} exists (written by this same command); fix: add --overwrite to replace it"
    else:
        return path
    print(message, file=sys.stderr)
    raise ResultFileExists(message)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance() -> dict[str, Any]:
    """Where a result came from: mrlkit's commit (and a dirty tree), the UTC date, versions, machine."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    info: dict[str, Any] = {
        "mrlkit_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            **{p: _version(p) for p in ("mrlkit", "torch", "transformers", "sentence-transformers", "numpy")},
        },
        "machine": {
            "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
        },
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["machine"]["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def write_result(name: str, payload: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``benchmarks/results/<name>.json`` with its command and :func:`provenance`, atomically.

    Refuses (:class:`ResultFileExists`) to replace a file another command wrote, or this command's own
    file without ``overwrite``.
    """
    payload = {**payload, "command": payload.get("command") or command_line()}
    path = check_writable(name, overwrite, payload["command"])
    payload["provenance"] = provenance()
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
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
