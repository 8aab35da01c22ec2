"""Load the index's model and encode texts; fingerprint the model so an index knows what built it.

The fingerprint has two parts: ``weights``, a BLAKE2b hash of every weight tensor (name, dtype, shape
and bytes, in name order: independent of the file format), and ``probe``, the model's embeddings of
three fixed texts. A query model matches an index when its weights hash is equal, or when its probe
embeddings agree within 1e-3 (the same model re-saved in another dtype or format).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mrlkit.config import _enum
from mrlkit.errors import ConfigError
from mrlkit.search.config import ModelBackend
from mrlkit.search.quantise import normalise

logger = logging.getLogger(__name__)

PROBE_TEXTS = (
    "mrlkit index fingerprint probe",
    "The quick brown fox jumps over the lazy dog.",
    "Matryoshka embeddings nest small vectors inside large ones.",
)
PROBE_TOLERANCE = 1e-3


class Encoder:
    """A SentenceTransformer loaded the way mrlkit loads models (hub id, folder, packaged default)."""

    def __init__(
        self,
        model: str,
        max_seq_length: int | None = None,
        device: str | None = None,
        backend: ModelBackend | str = ModelBackend.TORCH,
    ) -> None:
        """Load ``model``; ``backend="onnx"``: its ``mrlkit export --onnx`` folder, the served graph.

        Raises:
            ConfigError: An unknown backend, or ``onnx`` for a model without an export.
        """
        from mrlkit.models.resolve import load_model, resolve_model

        self.backend = _enum(ModelBackend, backend, "model backend")
        self.name = model
        self.path = resolve_model(model)
        if self.backend is ModelBackend.ONNX:
            from mrlkit.export.runtime import find_export, load_onnx_model

            export = find_export(self.path)
            if export != Path(self.path):  # MODEL-onnx beside the torch model: the manifest names it
                self.name = self.path = str(export)
            self.model = load_onnx_model(export)
        else:
            self.model = load_model(model, device=device)
        if max_seq_length is not None:
            self.model.max_seq_length = max_seq_length
        self._fingerprint: dict[str, Any] | None = None

    @property
    def dim(self) -> int:
        """Full embedding dimension."""
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def encode(self, texts: list[str], batch_size: int = 64, query: bool = False) -> np.ndarray:
        """Unit-length float32 embeddings (the model's query or document prompt applied if it has one)."""
        encode = self.model.encode_query if query else self.model.encode_document
        vectors = encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return normalise(vectors)

    def fingerprint(self) -> dict[str, Any]:
        """``{"weights": hex, "probe": [[...], ...]}`` (computed once)."""
        if self._fingerprint is None:
            # an ONNX export hashes its torch twin's weights: the same model as the one it was exported from
            self._fingerprint = {
                "weights": weights_hash(getattr(self.model, "mrlkit_torch_source", self.model)),
                "probe": np.round(self.encode(list(PROBE_TEXTS)), 6).tolist(),
            }
        return self._fingerprint

    def info(self) -> dict[str, Any]:
        """The manifest's ``model`` entry (a local folder is stored as an absolute path)."""
        local = Path(self.name).expanduser()
        return {
            "name": str(local.resolve()) if local.is_dir() else self.name,
            "dim": self.dim,
            "max_seq_length": self.model.max_seq_length,
            "fingerprint": self.fingerprint(),
            "matryoshka_dims": matryoshka_dims(self.path),
            "backend": self.backend.value,
        }


def weights_hash(model: Any) -> str:  # noqa: ANN401
    """BLAKE2b (16 hex chars) of every tensor in ``model.state_dict()``."""
    import torch

    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().cpu().contiguous().view(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def matryoshka_dims(model_path: str) -> list[int] | None:
    """Dims a model was trained for, when ``mrlkit finetune`` wrote it (``config.yaml`` next to it)."""
    config = Path(model_path).parent / "config.yaml"
    if not config.is_file():
        return None
    try:
        dims = yaml.safe_load(config.read_text(encoding="utf-8")).get("dims")
    except (yaml.YAMLError, AttributeError, OSError):
        return None
    return [int(d) for d in dims] if isinstance(dims, list) else None


def same_model(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether two fingerprints name the same model (see the module docstring)."""
    if stored.get("weights") == current.get("weights"):
        return True
    a, b = np.asarray(stored.get("probe", []), np.float32), np.asarray(current.get("probe", []), np.float32)
    return a.shape == b.shape and a.size > 0 and float(np.abs(a - b).max()) <= PROBE_TOLERANCE


def check_model(
    index_model: dict[str, Any], encoder: Encoder, index_path: Path, allow_mismatch: bool
) -> None:
    """Refuse to query an index with a model other than the one that built it.

    Raises:
        ConfigError: Naming both fingerprints and the override, unless ``allow_mismatch``.
    """
    stored = index_model.get("fingerprint")
    if stored is None:
        return
    current = encoder.fingerprint()
    if same_model(stored, current):
        return
    message = (
        f"index {index_path} was built with model {index_model.get('name')!r} (fingerprint "
        f"{stored.get('weights')}), but the query model {encoder.name!r} has fingerprint "
        f"{current['weights']}: their vectors are not comparable"
    )
    if allow_mismatch:
        logger.warning("%s; searching anyway (allow_model_mismatch)", message)
        return
    raise ConfigError(
        f"{message}; query with the index's model, rebuild the index with this one, or pass "
        "--allow-model-mismatch (allow_model_mismatch=True) to search anyway"
    )


def check_shortlist_dim(shortlist_dim: int, dim: int, trained: list[int] | None) -> None:
    """Refuse a shortlist wider than the model; warn when it is not a prefix the model was trained for.

    Raises:
        ConfigError: ``shortlist_dim`` > ``dim``.
    """
    if shortlist_dim > dim:
        raise ConfigError(
            f"shortlist_dim {shortlist_dim} is larger than the model's dimension {dim}; pick at most {dim} "
            f"(e.g. {max(1, dim // 4)})"
        )
    if trained and shortlist_dim not in trained:
        logger.warning(
            "shortlist_dim %d is not one of the Matryoshka dims the model was trained for (%s): its prefix "
            "may retrieve worse than a trained one",
            shortlist_dim,
            ", ".join(map(str, trained)),
        )
