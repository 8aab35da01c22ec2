"""Shortlist and full-vector codecs: Matryoshka truncation, int8 scalar codes and packed sign bits.

* shortlist: the leading ``D`` dims of each L2-normalised vector, re-normalised to unit length.
* int8: per-dim ranges ``vmin``, ``vdiff`` from calibration vectors (the first chunk of a build);
  ``code = floor(255 * clip((x - vmin) / vdiff, 0, 1))`` and ``x' = vmin + (code + 0.5) / 255 * vdiff``:
  faiss' ``QT_8bit`` scalar quantiser layout, so faiss scans the codes directly. Queries stay float and
  are scored against the decoded codes (asymmetric).
* binary: ``np.packbits(x > 0)`` (sentence-transformers' ``ubinary``), 8 dims per byte; queries are packed
  the same way and scored by Hamming distance (symmetric).
"""

from __future__ import annotations

import numpy as np

from mrlkit.search.config import FullDtype, Quantization


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The Matryoshka prefix: the leading ``dim`` dims, re-normalised."""
    return normalise(np.asarray(vectors)[:, :dim])


def int8_ranges(calibration: np.ndarray) -> np.ndarray:
    """Per-dim ``[vmin..., vdiff...]`` (faiss' ``sq.trained`` layout) from calibration vectors."""
    calibration = np.asarray(calibration, dtype=np.float32)
    vmin = calibration.min(axis=0)
    vdiff = np.maximum(calibration.max(axis=0) - vmin, 1e-6)
    return np.concatenate([vmin, vdiff]).astype(np.float32)


def int8_encode(vectors: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """uint8 codes of ``vectors`` under ``ranges`` (values outside the range are clipped)."""
    dim = len(ranges) // 2
    vmin, vdiff = ranges[:dim], ranges[dim:]
    scaled = np.clip((np.asarray(vectors, dtype=np.float32) - vmin) / vdiff, 0.0, 1.0)
    return np.minimum(np.floor(scaled * 255.0), 255).astype(np.uint8)


def int8_decode(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """float32 vectors from uint8 codes (bucket centres)."""
    dim = len(ranges) // 2
    return ranges[:dim] + (codes.astype(np.float32) + 0.5) / 255.0 * ranges[dim:]


def pack_bits(vectors: np.ndarray) -> np.ndarray:
    """Packed sign bits, 8 dims per byte (``dim`` must be a multiple of 8)."""
    return np.packbits(np.asarray(vectors) > 0, axis=1)


def shortlist_codes(
    vectors: np.ndarray, dim: int, kind: Quantization, ranges: np.ndarray | None
) -> np.ndarray:
    """Shortlist storage for full-dim vectors: float32 prefix, int8 codes or packed bits."""
    short = truncate(vectors, dim)
    if kind is Quantization.FLOAT:
        return short
    if kind is Quantization.INT8:
        if ranges is None:
            raise ValueError("int8 shortlist codes need calibration ranges")
        return int8_encode(short, ranges)
    return pack_bits(short)


def shortlist_shape(dim: int, kind: Quantization) -> tuple[int, np.dtype]:
    """Width and dtype of a shortlist row."""
    if kind is Quantization.FLOAT:
        return dim, np.dtype(np.float32)
    if kind is Quantization.INT8:
        return dim, np.dtype(np.uint8)
    return dim // 8, np.dtype(np.uint8)


def shortlist_bytes(dim: int, kind: Quantization) -> int:
    """Bytes per vector the shortlist keeps in RAM."""
    width, dtype = shortlist_shape(dim, kind)
    return width * dtype.itemsize


def full_dtype(kind: FullDtype) -> np.dtype:
    """Numpy dtype of the stored full vectors."""
    return np.dtype({FullDtype.FP16: np.float16, FullDtype.FP32: np.float32, FullDtype.INT8: np.uint8}[kind])


def full_codes(vectors: np.ndarray, kind: FullDtype, ranges: np.ndarray | None) -> np.ndarray:
    """Full-dim vectors in their stored dtype."""
    if kind is FullDtype.INT8:
        if ranges is None:
            raise ValueError("int8 full vectors need calibration ranges")
        return int8_encode(vectors, ranges)
    return np.asarray(vectors).astype(full_dtype(kind))


TORCH_GRAIN = 32768  # elements: at::internal::GRAIN_SIZE, above which a cast runs on torch's threads
TORCH_BLOCKS = 64


def fp16_to_fp32(half: np.ndarray) -> np.ndarray:
    """float16 -> float32 through torch's vectorised cast.

    For 200 to 1,000 rows of 384 dims (what a rescore reads) it took 10-14x less CPU than numpy's
    ``astype`` on the development machine (time.process_time, best of 7). Up to ``TORCH_BLOCKS`` blocks
    are cast one block at a time, each below torch's parallel grain, so that a rescore does not wake a
    thread team for a few hundred microseconds of work; larger arrays (exact search chunks) use torch's
    threads.
    """
    import torch

    half = np.ascontiguousarray(half)
    if not half.flags.writeable:  # a slice of the read-only memory map: torch wants its own buffer
        half = half.copy()
    source = torch.from_numpy(half)
    if half.ndim != 2 or half.size <= TORCH_GRAIN or half.size > TORCH_BLOCKS * TORCH_GRAIN:
        return source.float().numpy()
    out = torch.empty(source.shape, dtype=torch.float32)
    step = max(1, TORCH_GRAIN // half.shape[1])
    for lo in range(0, len(half), step):
        out[lo : lo + step].copy_(source[lo : lo + step])
    return out.numpy()


def full_decode(stored: np.ndarray, kind: FullDtype, ranges: np.ndarray | None) -> np.ndarray:
    """float32 full vectors from their stored form."""
    if kind is FullDtype.INT8:
        return int8_decode(stored, ranges)  # type: ignore[arg-type]
    if kind is FullDtype.FP16:
        return fp16_to_fp32(stored)
    return np.asarray(stored, dtype=np.float32)
