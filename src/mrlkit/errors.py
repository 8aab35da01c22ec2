"""Errors mrlkit raises for bad user input: each message names the value, file or line and the fix."""

from __future__ import annotations

from pathlib import Path


class MrlkitError(ValueError):
    """Base class for user-facing errors; the CLI prints the message on one line and exits non-zero."""


class DataError(MrlkitError):
    """Bad training or evaluation data.

    The message reads ``<file>:<line>: <problem>. <fix>`` so that a user can jump to the row.
    """

    def __init__(
        self, problem: str, *, path: str | Path | None = None, line: int | None = None, fix: str = ""
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        message = f"{where}{problem}"
        if fix:
            message = f"{message.rstrip('.')}. {fix}"
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.line = line


class ConfigError(MrlkitError):
    """Bad configuration value (CLI flag or YAML key)."""


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message carries the install command."""


def require(module: str, extra: str, purpose: str) -> None:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that installs it.

    Args:
        module: Importable module name, e.g. ``"pytrec_eval"``.
        extra: mrlkit extra that provides it, e.g. ``"dev"``.
        purpose: What the module is needed for, shown in the message.
    """
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingExtraError(
            f"{purpose} needs the optional package '{module}'. Install it with: pip install 'mrlkit[{extra}]'"
        ) from exc
