"""Compaction: rewrite an index as one segment without its deleted rows (``mrlkit index compact``).

Deletes are tombstones: a deleted row keeps its bytes on disk, a byte of the alive mask in RAM, and a
place in every funnel shortlist (the funnel over-fetches by the number of deleted rows). Many small
``add`` calls likewise leave many segments. Compaction copies the live rows' stored codes (full vectors,
shortlist codes, ids, texts) into one new segment without re-encoding or re-quantising them, so every
live row keeps its exact scores; it rebuilds the HNSW graph over the new segment, re-indexes BM25 over
every live text with the same settings (its IDF then no longer counts deleted documents, and rows added
since the last ``index bm25`` are covered) and keeps the live rows of the learned sparse vectors. The
new segment and components are published by one atomic manifest replace under the write lock: killed
at any moment, the index is the old one or the new one.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import DataError
from mrlkit.search.ann import build_graph
from mrlkit.search.changes import _fresh
from mrlkit.search.components import clean_components, component_folder, seal, temp_folder
from mrlkit.search.quantise import full_dtype, shortlist_shape
from mrlkit.search.reader import alive_mask
from mrlkit.search.storage import Manifest, SegmentWriter, clean_up, commit, segment_path, write_lock
from mrlkit.search.strings import StringColumn
from mrlkit.search.writer import ranges

if TYPE_CHECKING:
    from mrlkit.search.index import Index

logger = logging.getLogger(__name__)


def compact_index(index: Index) -> dict[str, Any]:
    """Rewrite ``index`` as one segment of its live rows (see the module doc); a no-op when already compact.

    Raises:
        DataError: Every row is deleted.

    Returns:
        ``rows_before``, ``rows_after``, ``removed`` (deleted rows dropped), ``segments_before``,
        ``components`` (rebuilt component names) and ``seconds``.
    """
    tick = time.perf_counter()
    with write_lock(index.path):
        manifest = _fresh(index)
        report: dict[str, Any] = {
            "rows_before": manifest.rows,
            "rows_after": manifest.rows - manifest.deleted,
            "removed": manifest.deleted,
            "segments_before": len(manifest.segments),
            "components": [],
        }
        if manifest.deleted == 0 and len(manifest.segments) <= 1:
            report["seconds"] = round(time.perf_counter() - tick, 3)
            return report
        alive = alive_mask(manifest)
        live = np.flatnonzero(alive) if alive is not None else np.arange(manifest.rows)
        if len(live) == 0:
            raise DataError(
                f"every row of {index.path} is deleted; there is nothing to compact",
                path=index.path,
                fix="Add documents (mrlkit index add) or build a new index",
            )
        clean_up(index.path, manifest)
        temps: list[Path] = []
        try:
            segment, graph_seconds = _write_live_segment(index, manifest, live)
            components = dict(manifest.components)
            for name, rebuild in (("bm25", _bm25_folder), ("sparse", _sparse_folder)):
                if name not in components:
                    continue
                stale = int(components[name].get("rows", -1)) != manifest.rows
                if stale and name == "sparse":  # rows added since: encoding them needs the sparse model
                    logger.warning(
                        "the sparse part of %s did not cover the rows added since it was built; dropped: "
                        "rebuild it with mrlkit index sparse %s --model %s",
                        index.path,
                        index.path,
                        components[name].get("model"),
                    )
                    components.pop(name)
                    continue
                folder, entry = rebuild(index, manifest, live, components[name])  # BM25: every live text
                temps.append(folder)
                components[name] = seal(name, entry, folder)
                report["components"].append(name)
            manifest.segments = [segment]
            manifest.tombstones = {}
            manifest.components = components
            manifest.config["hnsw_build_seconds"] = round(graph_seconds, 3)
            commit(index.path, manifest)
            clean_components(index.path, manifest)
        finally:
            for folder in temps:
                if folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
    index._load()  # noqa: SLF001 - the index's own reload
    report["seconds"] = round(time.perf_counter() - tick, 3)
    return report


def _write_live_segment(index: Index, manifest: Manifest, live: np.ndarray) -> tuple[Any, float]:
    """Copy the live rows' stored codes, ids and texts, segment by segment, into one new segment."""
    from tqdm.auto import tqdm

    cfg = index.config
    width, short_dtype = shortlist_shape(cfg.shortlist_dim, cfg.quantization)
    folders = [segment_path(index.path, s) for s in manifest.segments]
    has_texts = [(f / "texts.bin").is_file() for f in folders]
    if any(has_texts) and not all(has_texts):
        logger.warning("some segments of %s store no texts; the compacted index stores none", index.path)
    writer = SegmentWriter(
        index.path,
        len(live),
        (len(live), manifest.dim),
        full_dtype(cfg.full_dtype),
        (len(live), width),
        short_dtype,
        store_texts=cfg.store_texts and all(has_texts),
    )
    try:
        out, start = 0, 0
        with tqdm(total=len(live), desc="compacting", unit="row", disable=None) as bar:
            for segment, folder, texts_stored in zip(manifest.segments, folders, has_texts, strict=True):
                local = live[(live >= start) & (live < start + segment.rows)] - start
                start += segment.rows
                full = np.load(folder / "full.npy", mmap_mode="r")
                short = np.load(folder / "short.npy", mmap_mode="r")
                ids = StringColumn(folder, "ids")
                texts = StringColumn(folder, "texts") if texts_stored and writer.texts is not None else None
                for lo in range(0, len(local), cfg.chunk_size):
                    rows = local[lo : lo + cfg.chunk_size]
                    writer.write(
                        out,
                        full[rows],
                        short[rows],
                        [ids[int(r)] for r in rows],
                        [texts[int(r)] for r in rows] if texts is not None else [""] * len(rows),
                    )
                    out += len(rows)
                    bar.update(len(rows))
        graph_seconds = 0.0
        if cfg.hnsw and len(live):
            tick = time.perf_counter()
            writer.short.flush()
            build_graph(
                writer.folder,
                np.asarray(writer.short),
                cfg.shortlist_dim,
                cfg.quantization,
                ranges(manifest, "shortlist"),
                cfg,
            )
            graph_seconds = time.perf_counter() - tick
        return writer.finish(), graph_seconds
    except BaseException:
        writer.abort()
        raise


def _bm25_folder(
    index: Index, manifest: Manifest, live: np.ndarray, entry: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """Re-index the live texts with the stored BM25 settings."""
    from mrlkit.search.bm25 import BM25Config, write_bm25

    cfg = BM25Config(**entry["config"])
    folder = write_bm25(index.path, [index.text(int(r)) or "" for r in live], cfg)
    return folder, {"rows": len(live), "config": cfg.to_dict()}


def _sparse_folder(
    index: Index, manifest: Manifest, live: np.ndarray, entry: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """Keep the live rows of the stored sparse document vectors."""
    import scipy.sparse as sp

    from mrlkit.search.sparse import FILE, NAME

    source = component_folder(index.path, manifest, NAME)
    assert source is not None  # listed: checked by the caller
    docs = sp.load_npz(source / FILE).tocsr()[live]
    folder = temp_folder(index.path, NAME)
    sp.save_npz(folder / FILE, docs, compressed=False)
    out = {k: v for k, v in entry.items() if k not in ("folder", "files")}
    out.update(rows=len(live), nnz=int(docs.nnz), bytes_per_vector=8.0 * docs.nnz / max(len(live), 1))
    return folder, out
