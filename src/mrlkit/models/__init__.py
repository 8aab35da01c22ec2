"""Model resolution: hub ids and local paths, with packaged offline copies."""

from mrlkit.models.resolve import DEFAULT_MODEL, load_model, resolve_model

__all__ = ["DEFAULT_MODEL", "load_model", "resolve_model"]
