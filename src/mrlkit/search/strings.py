"""A column of strings on disk: UTF-8 bytes back to back plus an offsets array, both memory-mapped.

Ids and texts are stored this way so that opening an index reads nothing but the manifest: a million
ids cost no RAM until one is looked up. ``NAME.bin`` holds the bytes, ``NAME.offsets.npy`` the ``n + 1``
int64 start offsets.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np


class StringWriter:
    """Append strings to ``NAME.bin`` and write ``NAME.offsets.npy`` on :meth:`close`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.data_path = folder / f"{name}.bin"
        self.offsets_path = folder / f"{name}.offsets.npy"
        self._handle = self.data_path.open("wb")
        self._offsets = array("q", [0])

    def extend(self, values: list[str]) -> None:
        """Append ``values`` in order."""
        for value in values:
            raw = value.encode("utf-8", errors="surrogatepass")
            self._handle.write(raw)
            self._offsets.append(self._offsets[-1] + len(raw))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> list[Path]:
        """Flush both files to disk and return their paths."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        np.save(self.offsets_path, np.frombuffer(self._offsets, dtype=np.int64))
        return [self.data_path, self.offsets_path]


class StringColumn:
    """Read-only view of a column written by :class:`StringWriter`; ``column[i]`` decodes one string."""

    def __init__(self, folder: Path, name: str) -> None:
        self._offsets = np.load(folder / f"{name}.offsets.npy", mmap_mode="r")
        data_path = folder / f"{name}.bin"
        size = data_path.stat().st_size
        self._data = np.memmap(data_path, dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, row: int) -> str:
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        return bytes(self._data[start:end]).decode("utf-8", errors="surrogatepass")

    def __iter__(self) -> Iterator[str]:
        for row in range(len(self)):
            yield self[row]


class ConcatColumn:
    """Several :class:`StringColumn` objects read as one, indexed by global row number."""

    def __init__(self, columns: list[StringColumn]) -> None:
        self._columns = columns
        self._starts = np.cumsum([0] + [len(c) for c in columns])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, row: int) -> str:
        row = int(row)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"row {row} is out of range for {len(self)} rows")
        part = int(np.searchsorted(self._starts, row, side="right")) - 1
        return self._columns[part][row - int(self._starts[part])]

    def __iter__(self) -> Iterator[str]:
        for column in self._columns:
            yield from column
