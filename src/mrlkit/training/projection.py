"""A trainable projection head to a fixed output size (``--output-dim``), as PaddleNLP's ``output_emb_size``.

The head is a standard sentence-transformers ``Dense`` module (a linear map with bias, identity or
tanh activation) placed after pooling and before the model's ``Normalize``, so it is trained with
the encoder, saved with the model and loaded by plain ``SentenceTransformer(path, truncate_dim=d)``.
Matryoshka dims then nest inside the projected size.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Dense

from mrlkit.config import Activation
from mrlkit.errors import ConfigError
from mrlkit.training.rotation import output_slot

_ACTIVATIONS: dict[Activation, type[torch.nn.Module]] = {
    Activation.IDENTITY: torch.nn.Identity,
    Activation.TANH: torch.nn.Tanh,
}


def add_projection(
    model: SentenceTransformer,
    output_dim: int,
    activation: Activation | str = Activation.IDENTITY,
    *,
    seed: int = 42,
) -> str:
    """Insert a trainable ``Dense(model_dim -> output_dim)`` before ``model``'s Normalize.

    Args:
        model: The model to change in place.
        output_dim: Size of the embeddings after the head.
        activation: ``identity`` (a linear map) or ``tanh``.
        seed: Seed of the head's random initialisation (the global RNG is left as it was).

    Returns:
        The new Dense module's name in ``model``.

    Raises:
        ConfigError: When ``output_dim`` is not positive or the model has no fixed dimension.
    """
    if isinstance(output_dim, bool) or not isinstance(output_dim, int) or output_dim <= 0:
        raise ConfigError(f"output_dim must be a positive number of dims, got {output_dim!r}")
    in_dim = model.get_embedding_dimension()
    if in_dim is None:
        raise ConfigError("this model has no fixed embedding dimension; a projection head needs one")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        dense = Dense(
            in_dim, output_dim, bias=True, activation_function=_ACTIVATIONS[Activation(activation)]()
        )
    dense.to(next(model.parameters()).device)
    modules = list(model._modules.values())
    at = output_slot(model)
    modules.insert(at, dense)
    model._modules.clear()
    model._modules.update(OrderedDict((str(i), m) for i, m in enumerate(modules)))
    return str(at)
