"""Changes to an existing index (add or upsert a segment, delete by tombstone) and its size report.

Both run under the index's write lock, re-read the manifest first (another process may have written),
check everything, then publish one new manifest: killed at any moment, the index is the old one or the
new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mrlkit.errors import DataError
from mrlkit.search.corpus import Corpus
from mrlkit.search.quantise import shortlist_bytes
from mrlkit.search.storage import MANIFEST, Manifest, clean_up, commit, read_manifest, write_lock
from mrlkit.search.writer import check_vectors, corpus_batches, vector_batches, write_segment

if TYPE_CHECKING:
    from mrlkit.search.index import CorpusInput, Index


def _locate(manifest: Manifest, row: int) -> tuple[str, int]:
    start = 0
    for segment in manifest.segments:
        if row < start + segment.rows:
            return segment.name, row - start
        start += segment.rows
    raise IndexError(row)


def _fresh(index: Index) -> Manifest:
    """The manifest on disk; reload the index if another writer changed it since it was opened."""
    manifest = read_manifest(index.path)
    if manifest.updated != index.manifest.updated or len(manifest.segments) != len(index.manifest.segments):
        index._load()  # noqa: SLF001 - the index's own reload
    return manifest


def _tombstone(manifest: Manifest, rows: list[int]) -> None:
    for row in rows:
        name, local = _locate(manifest, row)
        manifest.tombstones.setdefault(name, []).append(local)
    for name in manifest.tombstones:
        manifest.tombstones[name] = sorted(set(manifest.tombstones[name]))


def _sample(values: list[str]) -> str:
    return ", ".join(f"'{v:.40}'" for v in values[:3]) + (" ..." if len(values) > 3 else "")


def add_rows(
    index: Index,
    source: CorpusInput | np.ndarray,
    ids: Sequence[str] | None,
    texts: Sequence[str] | None,
    upsert: bool,
    columns: Mapping[str, str] | None,
) -> int:
    """Write ``source`` as a new segment (see :meth:`Index.add`); return the rows added."""
    cfg = index.config
    if isinstance(source, np.ndarray):
        if ids is None:
            raise DataError("adding vectors needs their ids", fix="Pass ids=[...] with one id per vector")
        vectors = check_vectors(ids, source, texts, index.manifest.dim)
        new_ids, rows, with_texts = list(ids), len(ids), texts is not None
        batches = vector_batches(ids, vectors, texts, cfg.chunk_size)
    else:
        corpus = Corpus(source, columns, cfg.max_text_chars)
        scan = corpus.scan()
        new_ids, rows, with_texts = sorted(scan.ids), scan.count, True
        batches = corpus_batches(corpus, index.encoder, cfg, scan.count)
    with write_lock(index.path):
        manifest = _fresh(index)
        existing = index.id_rows()
        clash = [doc_id for doc_id in new_ids if doc_id in existing]
        if clash and not upsert:
            raise DataError(
                f"{len(clash)} id(s) are already in the index ({_sample(clash)}); nothing was added",
                path=index.path,
                fix="Pass --upsert (upsert=True) to replace them, or delete them first",
            )
        clean_up(index.path, manifest)
        segment, _ = write_segment(index.path, manifest, batches, rows, with_texts)
        _tombstone(manifest, [existing[doc_id] for doc_id in clash])
        manifest.segments.append(segment)
        commit(index.path, manifest)
    return rows


def delete_rows(index: Index, ids: Sequence[str]) -> int:
    """Tombstone ``ids`` (see :meth:`Index.delete`); return the rows deleted."""
    wanted = list(dict.fromkeys(str(i) for i in ids))
    if not wanted:
        raise DataError("no ids to delete", fix="Pass --ids a,b or --ids-file FILE")
    with write_lock(index.path):
        manifest = _fresh(index)
        existing = index.id_rows()
        missing = [doc_id for doc_id in wanted if doc_id not in existing]
        if missing:
            raise DataError(
                f"{len(missing)} id(s) are not in the index ({_sample(missing)}); nothing was deleted",
                path=index.path,
                fix="Check the ids (mrlkit search shows them)",
            )
        clean_up(index.path, manifest)
        _tombstone(manifest, [existing[doc_id] for doc_id in wanted])
        commit(index.path, manifest)
    return len(wanted)


_KINDS = {"full.npy": "full", "short.npy": "shortlist", "hnsw.faiss": "hnsw", "hnsw.usearch": "hnsw"}


def disk_sizes(root: Path, manifest: Manifest) -> dict[str, Any]:
    """Bytes on disk per kind of file (full, shortlist, ids, texts, hnsw) and in total."""
    sizes: dict[str, int] = {}
    for segment in manifest.segments:
        for name, meta in segment.files.items():
            kind = _KINDS.get(name, name.split(".")[0])
            sizes[kind] = sizes.get(kind, 0) + int(meta["size"])
    sizes["manifest"] = (root / MANIFEST).stat().st_size
    sizes["total"] = sum(sizes.values())
    return sizes


def index_info(index: Index) -> dict[str, Any]:
    """The manifest (without per-file checksums), sizes on disk and resident memory of ``index``.

    Resident: the shortlist codes and HNSW graphs (loaded into RAM) plus a byte per row when there are
    tombstones; the full vectors are memory-mapped and read only where a search rescores.
    """
    manifest, cfg = index.manifest, index.config
    disk = disk_sizes(index.path, manifest)
    rows = manifest.rows
    ram = rows * shortlist_bytes(cfg.shortlist_dim, cfg.quantization)
    ram += disk.get("hnsw", 0) if index.graphs is not None else 0
    ram += rows if index.alive is not None else 0
    out = manifest.to_json()
    for segment in out["segments"]:
        segment.pop("files", None)
    out["model"] = {k: v for k, v in out["model"].items() if k != "fingerprint"}
    out["model"]["fingerprint"] = (manifest.model.get("fingerprint") or {}).get("weights")
    out["disk_bytes"] = disk
    out["ram_bytes_estimate"] = {
        "resident": int(ram),
        "per_vector": round(ram / max(rows, 1), 1),
        "memory_mapped_full_vectors": disk.get("full", 0),
    }
    return out
