"""Generate ``mrlkit finetune``'s CLI options from :class:`~mrlkit.config.FinetuneConfig`.

Each dataclass field becomes one ``--flag`` whose default is ``None`` (meaning "not given"), so the
dataclass stays the one place where defaults live and a YAML ``--config`` is overridden only by the
flags a user actually typed.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from mrlkit.config import FinetuneConfig, Panel


def _cli_type(hint: Any) -> tuple[Any, str]:  # noqa: ANN401
    """Map a field type to what typer parses, plus a note on the accepted format."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = (
        args[0] if args and typing.get_origin(hint) in (typing.Union, __import__("types").UnionType) else hint
    )
    origin = typing.get_origin(base)
    if origin is list:
        return str, " Comma-separated."
    if origin is dict:
        return str, " As name=column,name=column."
    if isinstance(base, type) and issubclass(base, Enum):
        return str, f" One of: {', '.join(e.value for e in base)}."
    if base in (int, float, bool, str):
        return base, ""
    return str, ""


def _shown(default: Any) -> str:  # noqa: ANN401
    """`` [default: X]`` as a user would type X; nothing for an unset default (the help text says it)."""
    if default is None or default in ("", {}, []):
        return ""
    if isinstance(default, Enum):
        default = default.value
    if isinstance(default, list):
        default = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in default)
    return f" [default: {default}]"


def config_parameters(skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One keyword parameter per config field, typed for typer, defaulting to ``None``."""
    hints = typing.get_type_hints(FinetuneConfig)
    params = []
    order = list(Panel)  # panels listed in the enum's order, fields in the dataclass's order within each
    fields = sorted(
        dataclasses.fields(FinetuneConfig),
        key=lambda f: order.index(f.metadata["panel"]) if f.metadata.get("panel") else len(order),
    )
    for f in fields:
        if f.name in skip:
            continue
        cli_type, note = _cli_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        decls = [f"{flag}/--no-{f.name.replace('_', '-')}"] if cli_type is bool else [flag]
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
        shown = _shown(default)
        panel = f.metadata.get("panel")
        option = typer.Option(
            None,
            *decls,
            help=escape(f"{f.metadata.get('help', '')}{note}{shown}"),
            show_default=False,
            rich_help_panel=panel.value if panel is not None else None,
        )
        params.append(
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=option,
                annotation=typing.Optional[cli_type],  # noqa: UP045
            )
        )
    return params


def with_config_options(func: Callable[..., Any], skip: tuple[str, ...] = ()) -> Callable[..., Any]:
    """Give ``func(config: Path | None, recipe: str | None, **overrides)`` a signature typer can read."""
    recipe_param = inspect.Parameter(
        "recipe",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=typing.Optional[str],  # noqa: UP045
        default=typer.Option(
            None, "--recipe", "-r", help="Start from a named recipe (mrlkit recipes); --config and flags win."
        ),
    )
    config_param = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=typing.Optional[Path],  # noqa: UP045
        default=typer.Option(None, "--config", "-c", help="YAML file with settings; flags override it."),
    )
    params = [recipe_param, config_param, *config_parameters(skip)]
    func.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return func
