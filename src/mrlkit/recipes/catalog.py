"""Named recipes: measured ``FinetuneConfig`` settings shipped as commented YAML files in this folder.

A recipe is a partial config: ``FinetuneConfig.load(config, recipe=NAME, **flags)`` starts from it,
then applies the ``--config`` file, then the flags. Each file's first line is its one-line summary;
its other comments cite the benchmark result it came from.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from mrlkit.errors import ConfigError

_SUFFIX = ".yaml"


def recipe_names() -> list[str]:
    """The shipped recipes' names, sorted."""
    folder = resources.files(__package__)
    return sorted(p.name[: -len(_SUFFIX)] for p in folder.iterdir() if p.name.endswith(_SUFFIX))


def recipe_text(name: str) -> str:
    """A recipe's YAML with its comments, as ``mrlkit recipes show`` prints it.

    Raises:
        ConfigError: If no recipe has that name; the message lists the names.
    """
    names = recipe_names()
    if name not in names:
        raise ConfigError(f"unknown recipe {name!r}; choose one of: {', '.join(names)} (mrlkit recipes)")
    return resources.files(__package__).joinpath(name + _SUFFIX).read_text(encoding="utf-8")


def recipe_summary(name: str) -> str:
    """The recipe's one-line summary: its first comment line."""
    first = recipe_text(name).splitlines()[0]
    return first.lstrip("#").strip()


def recipe_values(name: str) -> dict[str, Any]:
    """A recipe's settings as a mapping of ``FinetuneConfig`` field names to values."""
    loaded = yaml.safe_load(recipe_text(name)) or {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"recipe {name!r} is not a mapping of setting: value")
    return {str(k).replace("-", "_"): v for k, v in loaded.items()}
