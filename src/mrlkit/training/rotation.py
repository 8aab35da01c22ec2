"""PCA rotation: put the most informative directions of a model's embedding space first.

A model that was not trained with Matryoshka Representation Learning spreads its signal over all
dims, so truncation loses a lot. Rotating its output onto the principal axes of the embeddings of the
user's own texts (largest variance first) keeps every full-dim similarity exactly (the rotation is
orthogonal and commutes with L2 normalisation) while the leading dims start far better; Matryoshka
training then starts from there. The rotation is a standard sentence-transformers ``Dense`` module
(no bias, identity activation), trained along with the rest, so the saved model loads anywhere with
``SentenceTransformer(path, truncate_dim=d)``.
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense, Normalize

from mrlkit.errors import ConfigError

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)


def sample_texts(columns: Iterable[Iterable[str]], limit: int, seed: int = 42) -> list[str]:
    """Unique texts from the given columns, a seeded sample of at most ``limit`` of them."""
    unique = sorted({t for column in columns for t in column if isinstance(t, str) and t.strip()})
    if len(unique) > limit:
        unique = random.Random(seed).sample(unique, limit)
    return unique


def training_texts(train: Dataset, limit: int, seed: int = 42) -> list[str]:
    """The texts a rotation is fitted on: every text column of the training rows, sampled to ``limit``."""
    return sample_texts([train[c] for c in train.column_names if c != "score"], limit, seed=seed)


def pca_rotation(embeddings: np.ndarray) -> np.ndarray:
    """The orthogonal matrix whose rows are the principal axes of ``embeddings``, largest first.

    Axes come from the uncentred second moment (the SVD of the embeddings themselves), which is what
    dot products and cosines depend on. With fewer texts than dims the basis is completed with
    orthonormal directions of no variance, so the matrix is always square and orthogonal.
    """
    if embeddings.ndim != 2 or len(embeddings) == 0:
        raise ConfigError("cannot fit a rotation on no embeddings; give training data with texts")
    _, _, vt = np.linalg.svd(embeddings.astype(np.float64), full_matrices=True)
    return vt.astype(np.float32)


def add_pca_rotation(
    model: SentenceTransformer, texts: list[str], *, batch_size: int = 64, show_progress_bar: bool = False
) -> str:
    """Fit a PCA rotation on ``texts`` and insert it into ``model`` (before its Normalize module).

    Args:
        model: The model to rotate in place.
        texts: Texts whose embeddings define the principal axes (the training texts).
        batch_size: Encoding batch size.
        show_progress_bar: Show the encoding progress bar.

    Returns:
        The new Dense module's name in ``model`` (its weight is the rotation matrix, rows = axes).
    """
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ConfigError("this model has no fixed embedding dimension; a rotation needs one")
    embeddings = model.encode(
        texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=show_progress_bar
    )
    name = add_rotation(model, pca_rotation(np.asarray(embeddings)))
    logger.info("inserted a %dx%d PCA rotation fitted on %d texts", dim, dim, len(texts))
    return name


def output_slot(model: SentenceTransformer) -> int:
    """Where a layer acting on the final embedding goes in ``model``: before its Normalize, if any."""
    modules = list(model._modules.values())
    return len(modules) - 1 if modules and isinstance(modules[-1], Normalize) else len(modules)


def square_layer(dim: int, rotation: np.ndarray | None = None, device: torch.device | str = "cpu") -> Dense:
    """A trainable ``dim x dim`` ``Dense`` (no bias, identity activation) set to ``rotation`` (default: I)."""
    rotation = np.eye(dim, dtype=np.float32) if rotation is None else rotation
    if rotation.shape != (dim, dim):
        raise ConfigError(f"a rotation must be {dim}x{dim} for this model, got {rotation.shape}")
    return Dense(
        dim,
        dim,
        bias=False,
        activation_function=torch.nn.Identity(),
        init_weight=torch.from_numpy(np.ascontiguousarray(rotation, dtype=np.float32)).to(device),
    )


def add_rotation(model: SentenceTransformer, rotation: np.ndarray | None = None) -> str:
    """Insert a trainable square ``Dense`` layer initialised to ``rotation`` before ``model``'s Normalize.

    Args:
        model: The model to change in place.
        rotation: A ``dim x dim`` matrix (rows: the new axes), e.g. a PCA basis; ``None``: the identity.

    Returns:
        The new Dense module's name in ``model``.
    """
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ConfigError("this model has no fixed embedding dimension; a rotation needs one")
    dense = square_layer(dim, rotation, device=next(model.parameters()).device)
    modules = list(model._modules.values())
    at = output_slot(model)
    modules.insert(at, dense)
    model._modules.clear()
    model._modules.update(OrderedDict((str(i), m) for i, m in enumerate(modules)))
    return str(at)


def freeze_all_but(model: SentenceTransformer, module_name: str) -> None:
    """Stop gradients everywhere in ``model`` except in its child module ``module_name``."""
    for name, child in model.named_children():
        child.requires_grad_(name == module_name)
