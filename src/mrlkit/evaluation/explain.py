"""``mrlkit explain``: which vocabulary tokens a sparse encoder weights, and why a document matches a query.

A sparse vector's dims are vocabulary tokens (SPLADE) or learnt latents (CSR), so a score is a sum of
per-dim products that can be read one by one. :func:`top_tokens` lists a text's heaviest dims;
:func:`explain_match` lists the dims a query and a document share and each one's share of their
dot-product score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrlkit.errors import ConfigError
from mrlkit.models.resolve import resolve_model


@dataclass
class Overlap:
    """One dim a query and a document share: its token, both weights and its share of the score."""

    token: str
    query_weight: float
    doc_weight: float
    contribution: float
    share: float


def load_sparse_encoder(name_or_path: str) -> Any:  # noqa: ANN401 - SparseEncoder, imported lazily
    """Load a sparse encoder (a saved SPLADE/CSR model or an MLM checkpoint such as ``splade-tiny``).

    Raises:
        ConfigError: The model is dense: it has no sparse module and no masked-language-model head.
    """
    from sentence_transformers import SparseEncoder

    from mrlkit.training.sparse import SPARSE_MODULES, is_mlm, saved_modules

    path = Path(resolve_model(name_or_path))
    found = saved_modules(path) if path.is_dir() else []
    if not any(m in found for m in SPARSE_MODULES) and ("Pooling" in found or not is_mlm(path)):
        raise ConfigError(
            f"model {name_or_path!r} is a dense embedding model (no SpladePooling, SparseStaticEmbedding or "
            f"SparseAutoEncoder, no *ForMaskedLM head); explain reads sparse encoders: pass a SPLADE or CSR "
            f"model, e.g. splade-tiny or the model/ folder of a finetune --model-type splade run"
        )
    return SparseEncoder(str(path))


def is_sparse_model(name_or_path: str) -> bool:
    """Whether ``name_or_path`` is a saved sparse encoder or an MLM checkpoint (read as SPLADE)."""
    from mrlkit.training.sparse import SPARSE_MODULES, is_mlm, saved_modules

    path = Path(resolve_model(name_or_path))
    if not path.is_dir():
        return False
    found = saved_modules(path)
    return any(m in found for m in SPARSE_MODULES) or ("Pooling" not in found and is_mlm(path))


def load_any(name_or_path: str) -> tuple[Any, bool]:
    """The model as a ``SparseEncoder`` if it is sparse, else as a ``SentenceTransformer``; and which."""
    from mrlkit.models.resolve import load_model

    if is_sparse_model(name_or_path):
        return load_sparse_encoder(name_or_path), True
    return load_model(name_or_path), False


def _names(model: Any, ids: list[int]) -> list[str]:  # noqa: ANN401
    """Vocabulary tokens of ``ids`` (SPLADE) or ``latent N`` (CSR, whose dims are not tokens)."""
    from sentence_transformers.sparse_encoder.modules import SparseAutoEncoder

    if any(isinstance(m, SparseAutoEncoder) for m in model.modules()):
        return [f"latent {i}" for i in ids]
    return list(model.tokenizer.convert_ids_to_tokens(ids))


def _dense_row(vector: Any) -> Any:  # noqa: ANN401
    return vector.to_dense().flatten().float()


def top_tokens(model: Any, text: str, k: int = 20, *, query: bool = False) -> list[tuple[str, float]]:  # noqa: ANN401
    """The ``k`` heaviest dims of ``text``'s vector, heaviest first.

    Args:
        model: A sparse encoder.
        text: The text to encode.
        k: How many dims to list.
        query: Encode as a query (inference-free SPLADE: the static query weights) instead of a document.
    """
    encode = model.encode_query if query else model.encode_document
    row = _dense_row(encode([text], convert_to_sparse_tensor=True, show_progress_bar=False)[0])
    active = int((row > 0).sum())
    weights, ids = row.topk(min(k, active)) if active else (row[:0], row[:0].long())
    return list(zip(_names(model, ids.tolist()), weights.tolist(), strict=True))


def explain_match(model: Any, query: str, document: str, k: int = 20) -> tuple[float, list[Overlap]]:  # noqa: ANN401
    """The query-document score and the ``k`` shared dims that contribute most to it.

    Returns:
        ``(score, overlaps)``: the dot product of the two sparse vectors and the shared dims, largest
        contribution first; shares are of the whole score, so all shared dims together sum to 1.
    """
    q = _dense_row(model.encode_query([query], convert_to_sparse_tensor=True, show_progress_bar=False)[0])
    d = _dense_row(
        model.encode_document([document], convert_to_sparse_tensor=True, show_progress_bar=False)[0]
    )
    products = q * d
    score = float(products.sum())
    shared = int((products != 0).sum())
    values, ids = products.topk(min(k, shared)) if shared else (products[:0], products[:0].long())
    names = _names(model, ids.tolist())
    return score, [
        Overlap(name, float(q[i]), float(d[i]), float(v), float(v) / score if score else 0.0)
        for name, i, v in zip(names, ids.tolist(), values.tolist(), strict=True)
    ]
