"""Exact and funnel search over an index's vectors.

* :class:`FullVectors`: the memory-mapped full-dim vectors of all segments, read by global row number.
  ``exact`` scans them in chunks (BLAS matmul per chunk, the reference); ``rescore`` reads only the
  candidate rows.
* :class:`Shortlist`: every segment's shortlist codes in one in-RAM faiss index: ``IndexFlatIP`` for
  float, ``IndexScalarQuantizer(QT_8bit)`` for int8 (float query against the codes), ``IndexBinaryFlat``
  for packed bits (Hamming). faiss spreads a batch of queries over all cores.
* funnel = shortlist top-k' -> rescore those k' rows at full dim -> top k.

Row numbers are global (segment order in the manifest); ``-1`` pads a result with fewer than k rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from mrlkit.errors import require
from mrlkit.search.config import FullDtype, Quantization
from mrlkit.search.quantise import full_decode, pack_bits, truncate

EXACT_CHUNK_ROWS = 65536
RESCORE_QUERY_BLOCK = 8
# below this many bytes of codes scanned per call, faiss runs on one thread: starting its OpenMP team
# costs more than the scan (40 ms instead of 0.02 ms per query on a loaded 2-core machine)
ONE_THREAD_BYTES = 4 << 20


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
            scores[lo : lo + len(block)] = np.matmul(vectors, queries[lo : lo + len(block), :, None])[..., 0]
        scores[~valid] = -np.inf
        return top_k(scores, candidates, k)


class Shortlist:
    """The shortlist codes of all segments in one faiss index; ``search`` returns global rows."""

    def __init__(
        self, codes: list[np.ndarray], dim: int, kind: Quantization, ranges: np.ndarray | None
    ) -> None:
        require("faiss", "search", "Searching an index")
        import faiss

        self.dim = dim
        self.kind = kind
        if kind is Quantization.BINARY:
            self.index = faiss.IndexBinaryFlat(dim)
        elif kind is Quantization.INT8:
            self.index = faiss.IndexScalarQuantizer(
                dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            faiss.copy_array_to_vector(np.asarray(ranges, dtype=np.float32), self.index.sq.trained)
            self.index.is_trained = True
        else:
            self.index = faiss.IndexFlatIP(dim)
        for part in codes:
            part = np.ascontiguousarray(part)
            if kind is Quantization.INT8:
                self.index.add_sa_codes(part)
            else:
                self.index.add(part)

    @property
    def ntotal(self) -> int:
        """Rows in the index."""
        return int(self.index.ntotal)

    def query_codes(self, queries: np.ndarray) -> np.ndarray:
        """Queries in the form the index scores: float prefix, or packed bits for binary."""
        short = truncate(queries, self.dim)
        return pack_bits(short) if self.kind is Quantization.BINARY else short

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows by shortlist score (binary: ``dim - 2 * hamming``, the ±1 inner product)."""
        k = max(1, min(k, self.ntotal))
        codes = self.query_codes(queries)
        with faiss_threads(len(codes) * self.ntotal * self.index.code_size):
            distances, rows = self.index.search(codes, k)
        if self.kind is Quantization.BINARY:
            return (self.dim - 2.0 * distances).astype(np.float32), rows.astype(np.int64)
        return distances, rows.astype(np.int64)


def drop_dead(rows: np.ndarray, alive: np.ndarray | None) -> np.ndarray:
    """Candidates with deleted rows replaced by ``-1``."""
    if alive is None:
        return rows
    rows = rows.copy()
    rows[(rows >= 0) & ~alive[np.maximum(rows, 0)]] = -1
    return rows
