"""HNSW graphs over the shortlist, one per segment, saved in the segment folder.

faiss (default): ``IndexHNSWFlat`` (float, inner product), ``IndexHNSWSQ`` with the index's int8 ranges,
``IndexBinaryHNSW`` (Hamming). usearch: the same graph kinds (``f32``/``i8``/``b1``); usearch's ``i8``
scales unit vectors by 127 itself rather than using the per-dim ranges. docs/search.md compares them.
Each segment's graph returns its top k' rows; the segments' results are merged by shortlist score.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrlkit.errors import require
from mrlkit.search.config import HnswBackend, IndexConfig, Quantization
from mrlkit.search.funnel import faiss_threads, top_k
from mrlkit.search.quantise import int8_decode, pack_bits, truncate

GRAPH_FILE = {HnswBackend.FAISS: "hnsw.faiss", HnswBackend.USEARCH: "hnsw.usearch"}


def _faiss_graph(  # noqa: ANN202
    codes: np.ndarray, dim: int, kind: Quantization, ranges: np.ndarray | None, cfg: IndexConfig
):
    import faiss

    if kind is Quantization.BINARY:
        index = faiss.IndexBinaryHNSW(dim, cfg.hnsw_m)
        data = codes
    elif kind is Quantization.INT8:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        storage = faiss.downcast_index(index.storage)
        faiss.copy_array_to_vector(np.asarray(ranges, dtype=np.float32), storage.sq.trained)
        storage.is_trained = True
        index.is_trained = True
        data = int8_decode(codes, ranges)  # type: ignore[arg-type]  # re-encodes to the same codes
    else:
        index = faiss.IndexHNSWFlat(dim, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        data = codes
    index.hnsw.efConstruction = cfg.hnsw_ef_construction
    index.add(np.ascontiguousarray(data))
    return index


def _usearch_graph(  # noqa: ANN202
    codes: np.ndarray, dim: int, kind: Quantization, ranges: np.ndarray | None, cfg: IndexConfig
):
    from usearch.index import Index

    dtype = {Quantization.BINARY: "b1", Quantization.INT8: "i8", Quantization.FLOAT: "f32"}[kind]
    index = Index(
        ndim=dim,
        metric="hamming" if kind is Quantization.BINARY else "ip",
        dtype=dtype,
        connectivity=cfg.hnsw_m,
        expansion_add=cfg.hnsw_ef_construction,
    )
    data = int8_decode(codes, ranges) if kind is Quantization.INT8 else codes  # type: ignore[arg-type]
    index.add(np.arange(len(codes), dtype=np.uint64), np.ascontiguousarray(data))
    return index


def build_graph(
    folder: Path, codes: np.ndarray, dim: int, kind: Quantization, ranges: np.ndarray | None, cfg: IndexConfig
) -> Path:
    """Build the HNSW graph of one segment's shortlist codes and save it in ``folder``."""
    path = folder / GRAPH_FILE[cfg.hnsw_backend]
    if cfg.hnsw_backend is HnswBackend.USEARCH:
        require("usearch", "search", "An HNSW graph with the usearch backend")
        _usearch_graph(codes, dim, kind, ranges, cfg).save(str(path))
        return path
    require("faiss", "search", "An HNSW graph")
    import faiss

    index = _faiss_graph(codes, dim, kind, ranges, cfg)
    if kind is Quantization.BINARY:
        faiss.write_index_binary(index, str(path))
    else:
        faiss.write_index(index, str(path))
    return path


class Graphs:
    """The HNSW graphs of all segments; :meth:`search` returns global rows and shortlist scores."""

    def __init__(
        self, paths: list[Path], starts: np.ndarray, dim: int, kind: Quantization, backend: HnswBackend
    ) -> None:
        self.dim = dim
        self.kind = kind
        self.backend = backend
        self.starts = starts
        self.graphs = [self._load(p) for p in paths]

    def _load(self, path: Path):  # noqa: ANN202
        if self.backend is HnswBackend.USEARCH:
            require("usearch", "search", "Searching a usearch HNSW graph")
            from usearch.index import Index

            return Index.restore(str(path))
        require("faiss", "search", "Searching an HNSW graph")
        import faiss

        return (
            faiss.read_index_binary(str(path))
            if self.kind is Quantization.BINARY
            else faiss.read_index(str(path))
        )

    def search(self, queries: np.ndarray, k: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` rows per query over all segments (scores: inner product, or ``dim - 2 hamming``)."""
        short = truncate(queries, self.dim)
        codes = pack_bits(short) if self.kind is Quantization.BINARY else short
        all_s, all_r = [], []
        for seg, graph in enumerate(self.graphs):
            kk = max(1, min(k, len(graph) if self.backend is HnswBackend.USEARCH else graph.ntotal))
            if self.backend is HnswBackend.USEARCH:
                graph.expansion_search = max(ef, kk)
                matches = graph.search(codes, kk)
                rows = np.asarray(matches.keys, dtype=np.int64).reshape(len(codes), -1)
                dist = np.asarray(matches.distances, dtype=np.float32).reshape(len(codes), -1)
                scores = self.dim - 2.0 * dist if self.kind is Quantization.BINARY else 1.0 - dist
                missing = rows >= np.iinfo(np.int64).max // 2
                rows[missing] = -1
            else:
                graph.hnsw.efSearch = max(ef, kk)
                with faiss_threads(len(codes) * max(ef, kk) * 4096):  # one query: one thread
                    dist, rows = graph.search(codes, kk)
                scores = self.dim - 2.0 * dist if self.kind is Quantization.BINARY else dist
                rows = rows.astype(np.int64)
            scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
            all_s.append(scores)
            all_r.append(np.where(rows >= 0, rows + self.starts[seg], -1))
        if len(all_s) == 1:
            return all_s[0], all_r[0]
        return top_k(np.hstack(all_s), np.hstack(all_r), k)
