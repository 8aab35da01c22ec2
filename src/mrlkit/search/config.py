"""Typed settings of a search index: one dataclass filled by YAML (``--config``) and CLI flags alike.

The settings that shape the files (shortlist dim, quantisation, full-vector dtype, HNSW) are stored in
the index's manifest at build time; ``add`` reuses them, so every segment of an index agrees.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from mrlkit.config import _enum, _read_yaml, parse_value
from mrlkit.errors import ConfigError


class Quantization(str, Enum):
    """How the shortlist (the leading ``shortlist_dim`` dims, re-normalised) is stored in RAM.

    float: float32, scored by inner product (4 bytes per dim); int8: one byte per dim with per-dim
    ranges from the corpus, scored asymmetrically (float query against the int8 codes); binary: one bit
    per dim (the sign), scored by Hamming distance between the query's bits and the codes.
    """

    FLOAT = "float"
    INT8 = "int8"
    BINARY = "binary"


class FullDtype(str, Enum):
    """How the full-dimension vectors are stored on disk (memory-mapped, read only to rescore)."""

    FP16 = "fp16"
    FP32 = "fp32"
    INT8 = "int8"


class SearchMode(str, Enum):
    """How a query is answered.

    exact: full-dim brute force (the reference); funnel: shortlist scan, then full-dim rescore of the
    top k' candidates; hnsw: HNSW graph over the shortlist, then the same rescore; hybrid: dense and
    BM25 result lists fused (needs the index's BM25 part, see :mod:`mrlkit.search.hybrid`).
    """

    EXACT = "exact"
    FUNNEL = "funnel"
    HNSW = "hnsw"
    HYBRID = "hybrid"
    SPARSE = "sparse"  # the index's sparse (SPLADE/CSR) document vectors, see mrlkit.search.sparse


class HnswBackend(str, Enum):
    """Library that builds and searches the HNSW graph over the shortlist."""

    FAISS = "faiss"
    USEARCH = "usearch"


class ModelBackend(str, Enum):
    """What runs the model that encodes texts: torch, or the ONNX graph of an ``mrlkit export --onnx``.

    onnx takes the export folder (or finds ``MODEL-onnx`` beside a torch model) and runs its served
    graph (int8 or fp16 when exported, else fp32) in onnxruntime; the index's fingerprint check treats
    it as the model it was exported from.
    """

    TORCH = "torch"
    ONNX = "onnx"


def _help(text: str, **kwargs: Any) -> Any:
    return field(metadata={"help": text}, **kwargs)


@dataclass
class IndexConfig:
    """Settings of ``mrlkit index build`` (and of ``Index.build``). Help texts show in ``--help``."""

    shortlist_dim: int = _help("Leading dims kept for the shortlist (re-normalised).", default=64)
    quantization: Quantization = _help(
        "Shortlist storage: float, int8 or binary.", default=Quantization.BINARY
    )
    full_dtype: FullDtype = _help(
        "Dtype of the memory-mapped full-dimension vectors: fp16, fp32 or int8.", default=FullDtype.FP16
    )
    hnsw: bool = _help("Also build an HNSW graph over the shortlist (enables --mode hnsw).", default=False)
    hnsw_m: int = _help("HNSW neighbours per node (M).", default=32)
    hnsw_ef_construction: int = _help("HNSW candidate list size while building.", default=200)
    hnsw_backend: HnswBackend = _help("HNSW library: faiss or usearch.", default=HnswBackend.FAISS)
    batch_size: int = _help("Encoding batch size.", default=64)
    chunk_size: int = _help(
        "Texts read, encoded and written to disk per chunk (bounds RAM for large corpora; the first chunk "
        "also calibrates int8 ranges).",
        default=8192,
    )
    max_seq_length: int | None = _help(
        "Truncate texts to this many tokens (default: the model's).", default=None
    )
    max_text_chars: int = _help(
        "Texts longer than this many characters are cut before encoding, with a warning.", default=32768
    )
    store_texts: bool = _help("Keep the texts in the index so that results can show them.", default=True)
    k_prime: int | None = _help(
        "Candidates rescored at full dim per query (default: the tuned value, else max(100, 10 k)).",
        default=None,
    )
    ef: int | None = _help(
        "HNSW search list size (default: the tuned value, else max(k', 64)).", default=None
    )

    def __post_init__(self) -> None:
        """Coerce strings into enums and check ranges."""
        self.quantization = _enum(Quantization, self.quantization, "quantization")
        self.full_dtype = _enum(FullDtype, self.full_dtype, "full_dtype")
        self.hnsw_backend = _enum(HnswBackend, self.hnsw_backend, "hnsw_backend")
        for name in ("shortlist_dim", "hnsw_m", "hnsw_ef_construction", "batch_size", "chunk_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_text_chars <= 0:
            raise ConfigError(f"max_text_chars must be > 0, got {self.max_text_chars!r}")
        for name in ("k_prime", "ef", "max_seq_length"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0 (or unset), got {value!r}")
        if self.quantization is Quantization.BINARY and self.shortlist_dim % 8:
            raise ConfigError(
                f"a binary shortlist packs 8 dims per byte: shortlist_dim must be a multiple of 8, "
                f"got {self.shortlist_dim}"
            )

    @classmethod
    def load(cls, yaml_path: str | Path | None = None, **overrides: Any) -> IndexConfig:
        """Build a config from an optional YAML file, then explicit overrides (``None`` ones are ignored).

        Raises:
            ConfigError: On an unreadable YAML file, an unknown key or a bad value.
        """
        values: dict[str, Any] = {}
        if yaml_path is not None:
            values.update(_read_yaml(Path(yaml_path)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            where = f" in {yaml_path}" if yaml_path else ""
            raise ConfigError(f"unknown index setting(s) {unknown}{where}; valid settings: {sorted(known)}")
        hints = typing.get_type_hints(cls)
        return cls(**{k: parse_value(k, v, hints[k]) for k, v in values.items()})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> IndexConfig:
        """Rebuild a config from :meth:`to_dict` output, ignoring keys a later version added."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (enums as their values)."""
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in dataclasses.asdict(self).items()}
