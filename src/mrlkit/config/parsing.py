"""Reading settings: YAML files, CLI strings and enum values, each failing with one clear ConfigError."""

from __future__ import annotations

import types
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from mrlkit.errors import ConfigError


def _enum(enum_cls: type[Enum], value: Any, name: str) -> Any:  # noqa: ANN401
    if isinstance(value, enum_cls):
        return value
    try:
        return enum_cls(str(value).lower())
    except ValueError:
        choices = ", ".join(e.value for e in enum_cls)
        raise ConfigError(f"{name} must be one of {choices}; got {value!r}") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass an existing YAML file to --config")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path}{line}: invalid YAML ({getattr(exc, 'problem', exc)}); fix the syntax"
        ) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping of setting: value, got {type(loaded).__name__}")
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}


def parse_value(name: str, value: Any, hint: Any) -> Any:  # noqa: ANN401
    """Convert CLI strings like "256,128" or "anchor=q" into the field's type."""
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else hint
    origin = typing.get_origin(base)
    try:
        if origin is list and isinstance(value, str):
            item = typing.get_args(base)[0]
            return [item(v.strip()) for v in value.split(",") if v.strip()]
        if origin is list and isinstance(value, (list, tuple)):
            item = typing.get_args(base)[0]
            return [item(v) for v in value]
        if origin is dict and isinstance(value, str):
            pairs = [p.split("=", 1) for p in value.split(",") if p.strip()]
            if any(len(p) != 2 for p in pairs):
                raise ValueError(value)
            return {k.strip(): v.strip() for k, v in pairs}
        if base in (int, float) and not isinstance(value, bool):
            return base(value)
        if base is bool and isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot read {value!r} as {getattr(base, '__name__', base)}") from None
    return value
