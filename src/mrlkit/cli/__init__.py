"""The ``mrlkit`` command line."""

from mrlkit.cli.app import app, main

__all__ = ["app", "main"]
