"""The on-disk index: a versioned ``manifest.json`` listing immutable segment folders, plus tombstones.

Layout of an index folder::

    manifest.json             format version, model + fingerprint, dims, settings, segments, tombstones
    segments/seg-<uuid>/      one complete, never-modified set of files per build or add:
        full.npy              full-dim vectors (fp16/fp32/int8), opened with np.load(mmap_mode="r")
        short.npy             shortlist codes (float32 / uint8 int8 codes / uint8 packed bits)
        ids.bin, ids.offsets.npy        the user's ids (UTF-8, memory-mapped)
        texts.bin, texts.offsets.npy    the texts (optional)
        hnsw.faiss | hnsw.usearch       the HNSW graph over the shortlist (optional)

Atomicity: a writer takes ``.lock``, writes a new segment under ``segments/.tmp-<uuid>``, fsyncs it,
renames it to ``seg-<uuid>``, then replaces ``manifest.json`` (write a temp file, fsync, ``os.replace``).
Readers trust only what the manifest lists, so a writer killed at any moment leaves the previous
manifest, and with it the previous index, intact. Unlisted folders are removed by the next writer.

Integrity: the manifest stores each file's size and a BLAKE2b checksum of its size, first MiB and last
MiB (fast on multi-GB files, and it catches truncation and the usual partial copies); both are checked
on open (files up to 2 MiB are hashed whole).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mrlkit.errors import ConfigError, DataError
from mrlkit.search.strings import StringWriter

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEGMENTS = "segments"
LOCK = ".lock"
CHECK_BYTES = 1 << 20
REBUILD = "rebuild it with: mrlkit index build CORPUS INDEX --overwrite"
DELAY_ENV = "MRLKIT_SEARCH_WRITE_DELAY"  # test hook: seconds to sleep at each write step


def checkpoint(stage: str) -> None:
    """Test hook: with ``$MRLKIT_SEARCH_WRITE_DELAY`` set, name the stage on stderr and sleep that long.

    The atomicity tests SIGKILL a writer as soon as it reports a stage, i.e. inside that window.
    """
    delay = os.environ.get(DELAY_ENV)
    if delay:
        print(f"mrlkit-checkpoint {stage}", file=sys.stderr, flush=True)
        time.sleep(float(delay))


def file_checksum(path: Path, full: bool = False) -> str:
    """BLAKE2b of the file's size, first MiB and last MiB (``full``: of the whole file)."""
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as handle:
        if full or size <= 2 * CHECK_BYTES:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        else:
            digest.update(handle.read(CHECK_BYTES))
            handle.seek(size - CHECK_BYTES)
            digest.update(handle.read(CHECK_BYTES))
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file or a folder entry to disk."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` as JSON so that readers see the old or the new file, never half."""
    tmp = path.with_name(f"{path.name}.tmp-{uuid.uuid4().hex}")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    checkpoint("manifest-written")
    os.replace(tmp, path)
    fsync_path(path.parent)
    checkpoint("manifest-replaced")


@dataclass
class Segment:
    """One immutable folder of vectors, ids and (optional) texts; ``files`` maps name -> size/checksum."""

    name: str
    rows: int
    files: dict[str, dict[str, Any]]


@dataclass
class Manifest:
    """Everything needed to read an index, stored as ``manifest.json``."""

    model: dict[str, Any]
    dim: int
    shortlist_dim: int
    config: dict[str, Any]
    calibration: dict[str, list[float]] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    tombstones: dict[str, list[int]] = field(default_factory=dict)
    tuned: dict[str, Any] | None = None
    components: dict[str, Any] = field(default_factory=dict)  # extra parts: bm25, fusion weights
    similarity: str = "cosine"
    format_version: int = FORMAT_VERSION
    created: str = ""
    updated: str = ""
    mrlkit_version: str = ""

    @property
    def rows(self) -> int:
        """Rows stored, deleted ones included."""
        return sum(s.rows for s in self.segments)

    @property
    def deleted(self) -> int:
        """Rows hidden by tombstones."""
        return sum(len(v) for v in self.tombstones.values())

    def to_json(self) -> dict[str, Any]:
        """JSON form, with the counts spelled out for people reading the file."""
        out = asdict(self)
        out["counts"] = {"rows": self.rows, "deleted": self.deleted, "live": self.rows - self.deleted}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Parse ``manifest.json`` content (unknown keys from later minor versions are ignored)."""
        data = dict(data)
        data.pop("counts", None)
        data["segments"] = [Segment(**s) for s in data.get("segments", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def read_manifest(root: Path) -> Manifest:
    """Read and check ``root/manifest.json``.

    Raises:
        DataError: The folder is missing, not an index, the manifest is unreadable or from a newer mrlkit.
    """
    if not root.is_dir():
        raise DataError("index folder not found", path=root, fix="Build one with: mrlkit index build")
    path = root / MANIFEST
    if not path.is_file():
        raise DataError(
            "not an mrlkit index (no manifest.json; an interrupted first build leaves this)",
            path=root,
            fix=REBUILD,
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = int(data["format_version"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataError(f"index manifest is corrupted ({exc})", path=path, fix=REBUILD) from None
    if version > FORMAT_VERSION:
        raise DataError(
            f"index format version {version} is newer than this mrlkit reads ({FORMAT_VERSION})",
            path=path,
            fix="Upgrade mrlkit (pip install -U mrlkit) or rebuild the index with this version",
        )
    try:
        return Manifest.from_json(data)
    except TypeError as exc:
        raise DataError(f"index manifest is corrupted ({exc})", path=path, fix=REBUILD) from None


def verify_segments(root: Path, manifest: Manifest) -> None:
    """Check that every listed file exists with its recorded size and checksum.

    Raises:
        DataError: Naming the first missing, truncated or corrupted file.
    """
    for segment in manifest.segments:
        for name, meta in segment.files.items():
            path = root / SEGMENTS / segment.name / name
            if not path.is_file():
                raise DataError("index file is missing", path=path, fix=REBUILD)
            size = path.stat().st_size
            if size != meta["size"]:
                raise DataError(
                    f"index file is truncated or corrupted ({size} bytes, expected {meta['size']})",
                    path=path,
                    fix=REBUILD,
                )
            if file_checksum(path) != meta["checksum"]:
                raise DataError("index file is corrupted (checksum mismatch)", path=path, fix=REBUILD)


class SegmentWriter:
    """Write one segment into a temp folder; :meth:`finish` seals and renames it, :meth:`abort` drops it."""

    def __init__(
        self,
        root: Path,
        rows: int,
        full_shape: tuple[int, int],
        full_dtype: np.dtype,
        short_shape: tuple[int, int],
        short_dtype: np.dtype,
        store_texts: bool,
    ) -> None:
        self.name = f"seg-{uuid.uuid4().hex[:16]}"
        self.folder = root / SEGMENTS / f".tmp-{self.name}"
        self.folder.mkdir(parents=True)
        self.rows = rows
        self.full = np.lib.format.open_memmap(self.folder / "full.npy", "w+", full_dtype, full_shape)
        self.short = np.lib.format.open_memmap(self.folder / "short.npy", "w+", short_dtype, short_shape)
        self.ids = StringWriter(self.folder, "ids")
        self.texts = StringWriter(self.folder, "texts") if store_texts else None

    def write(
        self, start: int, full: np.ndarray, short: np.ndarray, ids: list[str], texts: list[str]
    ) -> None:
        """Store rows ``start : start + len(ids)``."""
        end = start + len(ids)
        self.full[start:end] = full
        self.short[start:end] = short
        self.ids.extend(ids)
        if self.texts is not None:
            self.texts.extend(texts)
        checkpoint("segment-chunk")

    def finish(self) -> Segment:
        """Flush, fsync, checksum and rename the folder to its final name; return its manifest entry."""
        if len(self.ids) != self.rows:
            raise RuntimeError(f"segment got {len(self.ids)} rows, expected {self.rows}")
        for array in (self.full, self.short):
            array.flush()
        del self.full, self.short
        self.ids.close()
        if self.texts is not None:
            self.texts.close()
        files: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.iterdir()):
            fsync_path(path)
            files[path.name] = {"size": path.stat().st_size, "checksum": file_checksum(path)}
        checkpoint("segment-sealed")
        final = self.folder.parent / self.name
        os.replace(self.folder, final)
        fsync_path(final.parent)
        checkpoint("segment-renamed")
        return Segment(self.name, self.rows, files)

    def abort(self) -> None:
        """Remove the temp folder (a crash leaves it for the next writer's clean-up instead)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def commit(root: Path, manifest: Manifest) -> None:
    """Atomically publish ``manifest``, then remove segments it no longer lists."""
    manifest.updated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest.created = manifest.created or manifest.updated
    write_json_atomic(root / MANIFEST, manifest.to_json())
    clean_up(root, manifest)


def clean_up(root: Path, manifest: Manifest | None) -> None:
    """Remove temp and unlisted segment folders and stray manifest temp files (call under the lock)."""
    listed = {s.name for s in manifest.segments} if manifest is not None else set()
    segments = root / SEGMENTS
    if segments.is_dir():
        for entry in segments.iterdir():
            if entry.name not in listed:
                shutil.rmtree(entry, ignore_errors=True)
    for stray in root.glob(f"{MANIFEST}.tmp-*"):
        stray.unlink(missing_ok=True)


@contextlib.contextmanager
def write_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``root/.lock`` (released by the OS if the process dies)."""
    root.mkdir(parents=True, exist_ok=True)
    handle = (root / LOCK).open("a")
    try:
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
            pass
        yield
    finally:
        handle.close()


def check_new_index_folder(root: Path, overwrite: bool) -> Manifest | None:
    """Refuse to build over an existing index (without ``overwrite``) or over a folder of other files.

    Returns:
        The existing manifest when overwriting an index, else ``None``.

    Raises:
        ConfigError: The folder holds an index and ``overwrite`` is off, or holds files mrlkit did not write.
    """
    if not root.exists():
        return None
    if not root.is_dir():
        raise ConfigError(f"index path {root} is a file; pass a folder path")
    if (root / MANIFEST).is_file():
        if not overwrite:
            raise ConfigError(
                f"{root} already holds an index; pass --overwrite (overwrite=True) to replace it, or use "
                "mrlkit index add to extend it"
            )
        return read_manifest(root)
    foreign = sorted(p.name for p in root.iterdir() if p.name not in (SEGMENTS, LOCK))
    if foreign:
        raise ConfigError(
            f"{root} is not empty and is not an mrlkit index (it holds {foreign[:3]}); "
            "pass a new or empty folder"
        )
    return None


def segment_path(root: Path, segment: Segment) -> Path:
    """Folder of a listed segment."""
    return root / SEGMENTS / segment.name
