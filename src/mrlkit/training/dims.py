"""Matryoshka dimension ladders: defaults and validation."""

from __future__ import annotations

from collections.abc import Sequence

from mrlkit.errors import ConfigError

SMALLEST_DEFAULT_DIM = 32


def default_dims(model_dim: int, smallest: int = SMALLEST_DEFAULT_DIM) -> list[int]:
    """The full dimension, then every power of two below it down to ``smallest``.

    >>> default_dims(384)
    [384, 256, 128, 64, 32]
    >>> default_dims(768)
    [768, 512, 256, 128, 64, 32]
    """
    dims = [model_dim]
    power = 1 << (model_dim - 1).bit_length() - 1 if model_dim > 1 else 1
    if power == model_dim:
        power //= 2
    while power >= smallest:
        dims.append(power)
        power //= 2
    return dims


def validate_dims(dims: Sequence[int] | None, model_dim: int) -> list[int]:
    """Check user dims: non-empty, positive integers, strictly descending, none above ``model_dim``.

    Args:
        dims: Dims asked for, or ``None`` for :func:`default_dims`.
        model_dim: The model's embedding dimension.

    Returns:
        The validated list (``default_dims(model_dim)`` when ``dims`` is ``None``).

    Raises:
        ConfigError: Naming the bad value and the fix.
    """
    if dims is None:
        return default_dims(model_dim)
    dims = list(dims)
    if not dims:
        raise ConfigError(f"dims is empty; give descending dims such as {default_dims(model_dim)}")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, int) or d <= 0:
            raise ConfigError(
                f"dim {d!r} is not a positive integer; use e.g. --dims {_fmt(default_dims(model_dim))}"
            )
        if d > model_dim:
            raise ConfigError(
                f"dim {d} is larger than the model's embedding dimension {model_dim}; use dims <= {model_dim}"
            )
    if any(a <= b for a, b in zip(dims, dims[1:], strict=False)):
        fixed = _fmt(sorted(set(dims), reverse=True))
        raise ConfigError(f"dims {_fmt(dims)} are not strictly descending; use e.g. --dims {fixed}")
    return dims


def _fmt(dims: Sequence[int]) -> str:
    return ",".join(str(d) for d in dims)
