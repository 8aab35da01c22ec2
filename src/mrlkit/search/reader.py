"""Open the listed segments of an index: memory-mapped full vectors, shortlist codes, ids, texts, graphs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrlkit.search.ann import GRAPH_FILE, Graphs
from mrlkit.search.config import IndexConfig
from mrlkit.search.funnel import FullVectors, Shortlist
from mrlkit.search.storage import Manifest, segment_path
from mrlkit.search.strings import ConcatColumn, StringColumn
from mrlkit.search.writer import ranges


@dataclass
class Parts:
    """What a search reads; ``texts`` holds one column per segment (``None`` where it stores none)."""

    full: FullVectors
    shortlist: Shortlist
    ids: ConcatColumn
    texts: list[StringColumn | None]
    alive: np.ndarray | None
    graphs: Graphs | None


def alive_mask(manifest: Manifest) -> np.ndarray | None:
    """Per global row, False where a tombstone hides it; ``None`` when nothing is deleted."""
    if not manifest.tombstones:
        return None
    alive = np.ones(manifest.rows, dtype=bool)
    start = 0
    for segment in manifest.segments:
        dead = manifest.tombstones.get(segment.name)
        if dead:
            alive[start + np.asarray(dead, dtype=np.int64)] = False
        start += segment.rows
    return alive


def open_parts(root: Path, manifest: Manifest, config: IndexConfig) -> Parts:
    """Open every segment the manifest lists (call after :func:`~mrlkit.search.storage.verify_segments`)."""
    folders = [segment_path(root, s) for s in manifest.segments]
    full = FullVectors(
        [np.load(f / "full.npy", mmap_mode="r") for f in folders],
        config.full_dtype,
        ranges(manifest, "full"),
    )
    shortlist = Shortlist(
        [np.load(f / "short.npy", mmap_mode="r") for f in folders],
        manifest.shortlist_dim,
        config.quantization,
        ranges(manifest, "shortlist"),
    )
    paths = [f / GRAPH_FILE[config.hnsw_backend] for f in folders]
    graphs = None
    if config.hnsw and all(p.is_file() for p in paths):
        graphs = Graphs(paths, full.starts, manifest.shortlist_dim, config.quantization, config.hnsw_backend)
    return Parts(
        full=full,
        shortlist=shortlist,
        ids=ConcatColumn([StringColumn(f, "ids") for f in folders]),
        texts=[StringColumn(f, "texts") if (f / "texts.bin").is_file() else None for f in folders],
        alive=alive_mask(manifest),
        graphs=graphs,
    )
