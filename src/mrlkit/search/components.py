"""Extra parts of an index (BM25, tuned fusion weights) stored beside the segments.

A component with files lives in ``components/<name>-<uuid>/``; its manifest entry (under
``manifest.components[name]``) names the folder and each file's size and checksum. It is published the
way segments are: written to a temp folder, fsynced, renamed, then listed by an atomic manifest
replace under the index's write lock; folders no manifest lists are removed by the next writer.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mrlkit.errors import DataError
from mrlkit.search.storage import (
    REBUILD,
    Manifest,
    commit,
    file_checksum,
    fsync_path,
    read_manifest,
    write_lock,
)

COMPONENTS = "components"


def temp_folder(root: Path, name: str) -> Path:
    """A fresh temp folder for a component's files (removed on failure by the caller or the next writer)."""
    folder = root / COMPONENTS / f".tmp-{name}-{uuid.uuid4().hex[:16]}"
    folder.mkdir(parents=True)
    return folder


def seal(name: str, entry: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """Fsync and checksum ``folder``'s files, rename it to its final name; return the manifest entry.

    Call under the write lock, then commit a manifest listing the entry (until then the folder is an
    orphan that the next writer removes).
    """
    entry = dict(entry)
    if folder is not None:
        files = {}
        for path in sorted(folder.iterdir()):
            fsync_path(path)
            files[path.name] = {"size": path.stat().st_size, "checksum": file_checksum(path)}
        final = folder.parent / f"{name}-{uuid.uuid4().hex[:16]}"
        folder.rename(final)
        fsync_path(final.parent)
        entry.update(folder=final.name, files=files)
    return entry


def publish(
    root: Path,
    name: str,
    entry: dict[str, Any],
    folder: Path | None = None,
    check: Callable[[Manifest], None] | None = None,
) -> Manifest:
    """List ``entry`` (and the files of ``folder``, renamed to its final name) as component ``name``.

    Args:
        root: The index folder.
        name: Component name, e.g. ``"bm25"``.
        entry: JSON settings stored in the manifest.
        folder: A :func:`temp_folder` holding the component's files, or ``None`` for settings only.
        check: Called with the current manifest under the lock; raise to abort (the temp folder is removed).

    Returns:
        The published manifest.
    """
    try:
        with write_lock(root):
            manifest = read_manifest(root)
            if check is not None:
                check(manifest)
            manifest.components[name] = seal(name, entry, folder)
            commit(root, manifest)
            clean_components(root, manifest)
            return manifest
    finally:
        if folder is not None and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def clean_components(root: Path, manifest: Manifest) -> None:
    """Remove component folders the manifest does not list (call under the write lock)."""
    listed = {c.get("folder") for c in manifest.components.values() if isinstance(c, dict)}
    base = root / COMPONENTS
    if base.is_dir():
        for entry in base.iterdir():
            if entry.name not in listed:
                shutil.rmtree(entry, ignore_errors=True)


def component_folder(root: Path, manifest: Manifest, name: str) -> Path | None:
    """Folder of component ``name`` after checking its files, or ``None`` when the index has none.

    Raises:
        DataError: A listed file is missing, truncated or corrupted.
    """
    entry = manifest.components.get(name)
    if not entry or "folder" not in entry:
        return None
    folder = root / COMPONENTS / entry["folder"]
    for file, meta in entry.get("files", {}).items():
        path = folder / file
        if (
            not path.is_file()
            or path.stat().st_size != meta["size"]
            or file_checksum(path) != meta["checksum"]
        ):
            raise DataError(f"index {name} file is missing or corrupted", path=path, fix=REBUILD)
    return folder
