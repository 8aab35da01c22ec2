"""Exact and funnel search over an index's vectors.

* :class:`FullVectors`: the memory-mapped full-dim vectors of all segments, read by global row number.
  ``exact`` scans them in chunks (BLAS matmul per chunk, the reference); ``rescore`` reads only the
  candidate rows.
* :class:`Shortlist`: every segment's shortlist codes in in-RAM faiss indexes: ``IndexFlatIP`` for
  float, ``IndexScalarQuantizer(QT_8bit)`` for int8 (float query against the codes), ``IndexBinaryFlat``
  for packed bits (Hamming). A large shortlist is cut into one contiguous shard per core, scanned in
  parallel by a thread pool whose threads run faiss with one OpenMP thread each (faiss releases the GIL):
  faiss splits a flat scan by query, so a single query would otherwise scan every code on one core.
* funnel = shortlist top-k' -> rescore those k' rows at full dim -> top k.

Row numbers are global (segment order in the manifest); ``-1`` pads a result with fewer than k rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mrlkit.errors import require
from mrlkit.search.config import FullDtype, Quantization
from mrlkit.search.quantise import full_decode, pack_bits, truncate

EXACT_CHUNK_ROWS = 65536
RESCORE_QUERY_BLOCK = 8
# a rescore block of at most this many values is scored by numpy's own single-threaded einsum loop: right
# after a shortlist scan, waking OpenBLAS's threads for a small matmul cost more than the arithmetic (a
# single binary:256 query at 10^6 rows, k' 1,632: 12.4 ms whole with matmul, 8.5 ms with einsum)
EINSUM_MAX_VALUES = 1 << 22
# below this many bytes of codes scanned per call, faiss runs on one thread: starting its OpenMP team
# costs more than the scan (40 ms instead of 0.02 ms per query on a loaded 2-core machine)
ONE_THREAD_BYTES = 4 << 20
# a shortlist of at least this many rows per core is cut into one shard per core
SHARD_MIN_ROWS = 65536


@contextlib.contextmanager
def faiss_threads(work_bytes: int) -> Iterator[None]:
    """Run faiss single-threaded inside the block when ``work_bytes`` is small."""
    import faiss

    if work_bytes >= ONE_THREAD_BYTES:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (score, row) pairs of each query, best first; rows with score -inf become -1."""
    k = min(k, scores.shape[1])
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(scores, part, axis=1)
        rows = np.take_along_axis(rows, part, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")
    scores = np.take_along_axis(scores, order, axis=1)
    rows = np.take_along_axis(rows, order, axis=1).copy()
    rows[~np.isfinite(scores)] = -1
    return scores.astype(np.float32), rows.astype(np.int64)


class FullVectors:
    """Full-dim vectors of several segments (memory-mapped), addressed by global row."""

    def __init__(self, arrays: list[np.ndarray], kind: FullDtype, ranges: np.ndarray | None) -> None:
        self.arrays = arrays
        self.kind = kind
        self.ranges = ranges
        self.starts = np.cumsum([0] + [len(a) for a in arrays]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of ``rows`` (sorted rows read fastest), in the order given."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(self.arrays) == 1:
            return full_decode(self.arrays[0][rows], self.kind, self.ranges)
        part = np.searchsorted(self.starts, rows, side="right") - 1
        dim = self.arrays[0].shape[1]
        out = np.empty((len(rows), dim), dtype=np.float32)
        for seg in np.unique(part):
            mask = part == seg
            local = rows[mask] - self.starts[seg]
            out[mask] = full_decode(self.arrays[seg][local], self.kind, self.ranges)
        return out

    def exact(self, queries: np.ndarray, k: int, alive: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top ``k`` by inner product over every live row, chunk by chunk."""
        nq = len(queries)
        best_s = np.full((nq, 0), -np.inf, dtype=np.float32)
        best_r = np.full((nq, 0), -1, dtype=np.int64)
        for seg, array in enumerate(self.arrays):
            for lo in range(0, len(array), EXACT_CHUNK_ROWS):
                chunk = full_decode(array[lo : lo + EXACT_CHUNK_ROWS], self.kind, self.ranges)
                scores = queries @ chunk.T
                rows = np.arange(lo, lo + len(chunk), dtype=np.int64) + self.starts[seg]
                if alive is not None:
                    scores[:, ~alive[rows]] = -np.inf
                s, r = top_k(scores, np.broadcast_to(rows, scores.shape), k)
                best_s, best_r = top_k(np.hstack([best_s, s]), np.hstack([best_r, r]), k)
        return best_s, best_r

    def rescore(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Score each query's candidate rows (``-1``: none) at full dim and keep the top ``k``."""
        valid = candidates >= 0
        scores = np.full(candidates.shape, -np.inf, dtype=np.float32)
        for lo in range(0, len(queries), RESCORE_QUERY_BLOCK):
            block = candidates[lo : lo + RESCORE_QUERY_BLOCK]
            rows = np.where(block >= 0, block, 0).ravel()
            order = np.argsort(rows, kind="stable")  # read the memory map in file order
            vectors = np.empty((len(rows), queries.shape[1]), dtype=np.float32)
            vectors[order] = self.gather(rows[order])
            vectors = vectors.reshape(block.shape[0], block.shape[1], -1)
            q = queries[lo : lo + len(block)]
            if vectors.size <= EINSUM_MAX_VALUES:  # a query or two: no BLAS thread team to wake
                scores[lo : lo + len(block)] = np.einsum("qcd,qd->qc", vectors, q)
            else:
                scores[lo : lo + len(block)] = np.matmul(vectors, q[:, :, None])[..., 0]
        scores[~valid] = -np.inf
        return top_k(scores, candidates, k)


class Shortlist:
    """The shortlist codes of all segments in faiss indexes; ``search`` returns global rows."""

    def __init__(
        self,
        codes: list[np.ndarray],
        dim: int,
        kind: Quantization,
        ranges: np.ndarray | None,
        shards: int | None = None,
    ) -> None:
        require("faiss", "search", "Searching an index")
        import faiss

        self.dim = dim
        self.kind = kind
        self.ranges = ranges
        rows = sum(len(part) for part in codes)
        if shards is None:
            shards = min(faiss.omp_get_max_threads(), rows // SHARD_MIN_ROWS)
        self.n_shards = max(1, min(shards, rows))
        self.parts = [self._empty() for _ in range(self.n_shards)]
        bounds = np.linspace(0, rows, self.n_shards + 1).astype(np.int64)
        start = 0
        for part in codes:  # segment rows [start, start + len) go to the shards they overlap
            for shard, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
                a, b = max(lo, start), min(hi, start + len(part))
                if a < b:
                    self._add(self.parts[shard], np.ascontiguousarray(part[a - start : b - start]))
            start += len(part)
        self.offsets = [int(b) for b in bounds[:-1]]
        self._pool: ThreadPoolExecutor | None = None

    def _empty(self) -> Any:
        import faiss

        if self.kind is Quantization.BINARY:
            return faiss.IndexBinaryFlat(self.dim)
        if self.kind is Quantization.INT8:
            index = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            faiss.copy_array_to_vector(np.asarray(self.ranges, dtype=np.float32), index.sq.trained)
            index.is_trained = True
            return index
        return faiss.IndexFlatIP(self.dim)

    def _add(self, index: Any, part: np.ndarray) -> None:
        if self.kind is Quantization.INT8:
            index.add_sa_codes(part)
        else:
            index.add(part)

    @property
    def ntotal(self) -> int:
        """Rows in the index."""
        return int(sum(part.ntotal for part in self.parts))

    @property
    def code_size(self) -> int:
        """Bytes per row of the shortlist codes."""
        return int(self.parts[0].code_size)

    def query_codes(self, queries: np.ndarray) -> np.ndarray:
        """Queries in the form the index scores: float prefix, or packed bits for binary."""
        short = truncate(queries, self.dim)
        return pack_bits(short) if self.kind is Quantization.BINARY else short

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by shortlist score (binary: ``dim - 2 * hamming``, the ±1 inner product)."""
        k = max(1, min(k, self.ntotal))
        codes = self.query_codes(queries)
        if self.n_shards == 1:
            with faiss_threads(len(codes) * self.ntotal * self.code_size):
                return self._scores(*self.parts[0].search(codes, k))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.n_shards, initializer=_one_omp_thread)
        found = list(self._pool.map(lambda part: part.search(codes, min(k, part.ntotal)), self.parts))
        scores = np.hstack([self._scores(d, r)[0] for d, r in found])
        rows = np.hstack([np.where(r >= 0, r + o, -1) for (_, r), o in zip(found, self.offsets, strict=True)])
        return top_k(np.where(rows >= 0, scores, -np.inf), rows, k)

    def _scores(self, distances: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind is Quantization.BINARY:
            return (self.dim - 2.0 * distances).astype(np.float32), rows.astype(np.int64)
        return distances, rows.astype(np.int64)


def _one_omp_thread() -> None:
    """A shard-scanning thread's faiss calls run without an OpenMP team (the ICV is per thread)."""
    import faiss

    faiss.omp_set_num_threads(1)


def drop_dead(rows: np.ndarray, alive: np.ndarray | None) -> np.ndarray:
    """Candidates with deleted rows replaced by ``-1``."""
    if alive is None:
        return rows
    rows = rows.copy()
    rows[(rows >= 0) & ~alive[np.maximum(rows, 0)]] = -1
    return rows
