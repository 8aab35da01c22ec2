"""Turn vectors (or a corpus, through the encoder) into a sealed segment, chunk by chunk.

The first chunk of an index's first build calibrates the int8 ranges (shortlist and, with
``full_dtype: int8``, full vectors); every later chunk and segment reuses them, so codes stay comparable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrlkit.errors import DataError
from mrlkit.search.ann import build_graph
from mrlkit.search.config import FullDtype, IndexConfig, Quantization
from mrlkit.search.corpus import Corpus
from mrlkit.search.encode import Encoder
from mrlkit.search.quantise import (
    full_codes,
    full_dtype,
    int8_ranges,
    normalise,
    shortlist_codes,
    shortlist_shape,
    truncate,
)
from mrlkit.search.storage import (
    Manifest,
    Segment,
    SegmentWriter,
    check_new_index_folder,
    clean_up,
    commit,
    write_lock,
)

Batch = tuple[list[str], list[str] | None, np.ndarray]  # ids, texts, unit float32 vectors


def check_vectors(
    ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str] | None, dim: int | None
) -> np.ndarray:
    """Validate user-given vectors and their ids; return them as unit float32 rows.

    Raises:
        DataError: Empty input, wrong shape or dim, length mismatch, non-finite values, bad or repeated ids.
    """
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or len(vectors) == 0:
        raise DataError(f"vectors must be a non-empty 2-D array (n, dim), got shape {vectors.shape}")
    if dim is not None and vectors.shape[1] != dim:
        raise DataError(
            f"vectors have {vectors.shape[1]} dims but the index has {dim}", fix="Use the index's model"
        )
    if len(ids) != len(vectors) or (texts is not None and len(texts) != len(vectors)):
        raise DataError(
            f"got {len(vectors)} vectors, {len(ids)} ids and {'no' if texts is None else len(texts)} texts",
            fix="Pass one id (and text) per vector",
        )
    if not np.isfinite(vectors).all():
        raise DataError("vectors hold NaN or infinite values", fix="Check the encoder's output")
    seen: set[str] = set()
    for position, doc_id in enumerate(ids):
        if not isinstance(doc_id, str) or not doc_id:
            raise DataError(f"id at position {position} is {doc_id!r}, not a non-empty string")
        if doc_id in seen:
            raise DataError(
                f"duplicate id '{doc_id:.60}' at position {position}", fix="Give every vector its own id"
            )
        seen.add(doc_id)
    return normalise(vectors)


def vector_batches(
    ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str] | None, size: int
) -> Iterator[Batch]:
    """Slices of in-memory vectors."""
    for lo in range(0, len(ids), size):
        yield (
            list(ids[lo : lo + size]),
            None if texts is None else list(texts[lo : lo + size]),
            vectors[lo : lo + size],
        )


def corpus_batches(corpus: Corpus, encoder: Encoder, cfg: IndexConfig, total: int) -> Iterator[Batch]:
    """Read, encode and yield the corpus chunk by chunk, with a progress bar on a terminal."""
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="encoding", unit="text", disable=None) as bar:
        for ids, texts in corpus.chunks(cfg.chunk_size):
            vectors = encoder.encode(corpus.for_model(texts), batch_size=cfg.batch_size)
            bar.update(len(ids))
            yield ids, texts, vectors


def new_manifest(cfg: IndexConfig, dim: int, model: dict[str, Any] | None) -> Manifest:
    """An empty manifest for a fresh build."""
    import mrlkit

    return Manifest(
        model=model or {"name": None, "dim": dim, "fingerprint": None},
        dim=dim,
        shortlist_dim=cfg.shortlist_dim,
        config=cfg.to_dict(),
        mrlkit_version=mrlkit.__version__,
    )


def _calibrate(manifest: Manifest, cfg: IndexConfig, vectors: np.ndarray) -> None:
    if cfg.quantization is Quantization.INT8 and "shortlist" not in manifest.calibration:
        manifest.calibration["shortlist"] = int8_ranges(truncate(vectors, cfg.shortlist_dim)).tolist()
    if cfg.full_dtype is FullDtype.INT8 and "full" not in manifest.calibration:
        manifest.calibration["full"] = int8_ranges(vectors).tolist()


def ranges(manifest: Manifest, part: str) -> np.ndarray | None:
    """Calibration ranges of ``part`` (``"shortlist"`` or ``"full"``) as float32, if any."""
    values = manifest.calibration.get(part)
    return None if values is None else np.asarray(values, dtype=np.float32)


def write_segment(
    root: Path, manifest: Manifest, batches: Iterator[Batch], rows: int, with_texts: bool
) -> tuple[Segment, float]:
    """Write all ``batches`` (``rows`` in total) into a new sealed segment; return it and the HNSW time.

    ``manifest.calibration`` is filled from the first batch when empty. On any exception the temp folder
    is removed; after a SIGKILL the next writer removes it.
    """
    cfg = IndexConfig.from_dict(manifest.config)
    width, short_dtype = shortlist_shape(cfg.shortlist_dim, cfg.quantization)
    writer = SegmentWriter(
        root,
        rows,
        (rows, manifest.dim),
        full_dtype(cfg.full_dtype),
        (rows, width),
        short_dtype,
        store_texts=cfg.store_texts and with_texts,
    )
    graph_seconds = 0.0
    try:
        start = 0
        for ids, texts, vectors in batches:
            _calibrate(manifest, cfg, vectors)
            short = shortlist_codes(
                vectors, cfg.shortlist_dim, cfg.quantization, ranges(manifest, "shortlist")
            )
            full = full_codes(vectors, cfg.full_dtype, ranges(manifest, "full"))
            writer.write(start, full, short, ids, texts if texts is not None else [""] * len(ids))
            start += len(ids)
        if start != rows:
            raise DataError(f"the corpus changed while it was read ({start} rows, {rows} when scanned)")
        if cfg.hnsw:
            tick = time.perf_counter()
            writer.short.flush()
            codes = np.asarray(writer.short)
            build_graph(
                writer.folder, codes, cfg.shortlist_dim, cfg.quantization, ranges(manifest, "shortlist"), cfg
            )
            graph_seconds = time.perf_counter() - tick
        return writer.finish(), graph_seconds
    except BaseException:
        writer.abort()
        raise


def write_new_index(
    path: Path,
    cfg: IndexConfig,
    dim: int,
    model: dict[str, Any] | None,
    batches: Iterator[Batch],
    rows: int,
    overwrite: bool,
    with_texts: bool,
) -> None:
    """Write a whole new index (one segment) at ``path`` under its lock; ``overwrite`` replaces one."""
    with write_lock(path):
        old = check_new_index_folder(path, overwrite)
        clean_up(path, old)
        manifest = new_manifest(cfg, dim, model)
        segment, graph_seconds = write_segment(path, manifest, batches, rows, with_texts)
        manifest.segments = [segment]
        manifest.config["hnsw_build_seconds"] = round(graph_seconds, 3)
        commit(path, manifest)
