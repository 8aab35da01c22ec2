"""The dimension advisor: which shortlist (dim x quantisation x k', HNSW or not) is cheapest at a quality.

The corpus and queries of a judged set (a BEIR folder) are encoded once with the model; every
configuration is then an index built from those vectors, scored by nDCG@10 against the qrels and
timed one query at a time. The advice is the configuration with the fewest RAM bytes per vector
(then the most queries per second) whose nDCG@10 is at least ``target`` x the exact full-dim nDCG@10.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mrlkit.errors import ConfigError
from mrlkit.search.config import IndexConfig, Quantization, SearchMode
from mrlkit.search.encode import Encoder, matryoshka_dims
from mrlkit.search.evaluate import mode_bytes
from mrlkit.search.metrics import ndcg_at_k

K_PRIMES = (20, 50, 100, 200, 500, 1000)
TIMED_QUERIES = 100


@dataclass
class Advice:
    """Every configuration measured, the exact reference, and the cheapest one meeting the target."""

    target: float
    exact: dict[str, float]
    rows: list[dict[str, Any]] = field(default_factory=list)
    chosen: dict[str, Any] | None = None

    def config(self) -> IndexConfig | None:
        """The chosen settings as an :class:`IndexConfig` (``None`` when no configuration qualified)."""
        if self.chosen is None:
            return None
        c = self.chosen
        return IndexConfig(
            shortlist_dim=c["shortlist_dim"],
            quantization=c["quantization"],
            hnsw=c["hnsw"],
            k_prime=c["k_prime"],
            ef=c["k_prime"] if c["hnsw"] else None,
        )

    def save_config(self, path: Path) -> None:
        """Write the chosen settings as YAML for ``mrlkit index build --config``."""
        cfg = self.config()
        if cfg is None:
            raise ConfigError(f"no configuration reached {self.target} x exact nDCG@10; lower --target")
        keep = ("shortlist_dim", "quantization", "hnsw", "k_prime", "ef")
        path.write_text(
            yaml.safe_dump({k: v for k, v in cfg.to_dict().items() if k in keep}, sort_keys=False)
        )


def _ndcg(
    index: Any, vectors: np.ndarray, qids: list[str], relevant: dict[str, set[str]], **kw: Any
) -> float:  # noqa: ANN401
    rows, _ = index.search_vectors(vectors, k=10, **kw)
    return float(
        np.mean(
            [
                ndcg_at_k([index.ids[r] for r in row if r >= 0], dict.fromkeys(relevant[q], 1), 10)
                for q, row in zip(qids, rows, strict=True)
            ]
        )
    )


def _qps(index: Any, vectors: np.ndarray, **kw: Any) -> float:  # noqa: ANN401
    timed = vectors[:TIMED_QUERIES]
    start = time.perf_counter()
    for i in range(len(timed)):
        index.search_vectors(timed[i : i + 1], k=10, **kw)
    return round(len(timed) / (time.perf_counter() - start), 1)


def default_dims(model_path: str, dim: int) -> list[int]:
    """The model's trained Matryoshka dims below its full dim, else 32, 64, 128, 256 below it."""
    trained = matryoshka_dims(model_path)
    dims = [d for d in (trained or [32, 64, 128, 256]) if d < dim]
    return sorted(set(dims)) or [dim]


def advise(
    model: str,
    data: str | Path,
    target: float = 0.99,
    split: str = "test",
    dims: Sequence[int] | None = None,
    quantizations: Sequence[str] = ("binary", "int8", "float"),
    k_primes: Sequence[int] = K_PRIMES,
    hnsw: Sequence[bool] = (False, True),
    batch_size: int = 64,
) -> Advice:
    """Measure every configuration on ``data`` (a BEIR folder) and pick the cheapest meeting ``target``.

    Raises:
        ConfigError: ``target`` outside (0, 1], or a dim larger than the model's.
    """
    from mrlkit.data.beir import load_beir_eval
    from mrlkit.search.index import Index

    if not 0.0 < target <= 1.0:
        raise ConfigError(f"target must be in (0, 1], got {target}")
    ir = load_beir_eval(Path(data), split)
    encoder = Encoder(model)
    dims = list(dims) if dims else default_dims(encoder.path, encoder.dim)
    if max(dims) > encoder.dim:
        raise ConfigError(f"dims {dims} exceed the model's dimension {encoder.dim}")
    ids = list(ir.corpus)
    vectors = encoder.encode([ir.corpus[i] for i in ids], batch_size=batch_size)
    qids = list(ir.relevant)
    queries = encoder.encode([ir.queries[q] for q in qids], batch_size=batch_size, query=True)
    with tempfile.TemporaryDirectory(prefix="mrlkit-advise-") as tmp:
        exact_index = Index.from_vectors(
            Path(tmp) / "exact", ids, vectors, config=IndexConfig(shortlist_dim=dims[0])
        )
        exact = {
            "ndcg@10": _ndcg(exact_index, queries, qids, ir.relevant, mode="exact"),
            "qps_single": _qps(exact_index, queries, mode="exact"),
            **mode_bytes(exact_index, SearchMode.EXACT),
        }
        advice = Advice(target, exact)
        for dim in dims:
            for quant in quantizations:
                if Quantization(quant) is Quantization.BINARY and dim % 8:
                    continue
                for graph in hnsw:
                    cfg = IndexConfig(shortlist_dim=dim, quantization=quant, hnsw=graph)
                    idx = Index.from_vectors(Path(tmp) / f"{dim}-{quant}-{graph}", ids, vectors, config=cfg)
                    mode = "hnsw" if graph else "funnel"
                    for kp in sorted({min(k, len(ids)) for k in k_primes}):
                        kw = {"mode": mode, "k_prime": kp, "ef": kp}
                        ndcg = _ndcg(idx, queries, qids, ir.relevant, **kw)
                        advice.rows.append(
                            {
                                "shortlist_dim": dim,
                                "quantization": quant,
                                "hnsw": graph,
                                "k_prime": kp,
                                "ndcg@10": round(ndcg, 4),
                                "retention": round(ndcg / exact["ndcg@10"], 4) if exact["ndcg@10"] else 0.0,
                                "qps_single": _qps(idx, queries, **kw),
                                **mode_bytes(idx, SearchMode(mode)),
                            }
                        )
    ok = [r for r in advice.rows if r["retention"] >= target]
    advice.chosen = min(ok, key=lambda r: (r["ram_bytes_per_vector"], -r["qps_single"])) if ok else None
    return advice


def plot_advice(advice: Advice, path: Path) -> Path:
    """Quality and speed against RAM bytes per vector, one point per configuration (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for quant in sorted({r["quantization"] for r in advice.rows}):
        rows = [r for r in advice.rows if r["quantization"] == quant]
        xs = [r["ram_bytes_per_vector"] for r in rows]
        axes[0].scatter(xs, [r["ndcg@10"] for r in rows], label=quant, s=12)
        axes[1].scatter(xs, [r["qps_single"] for r in rows], label=quant, s=12)
    axes[0].axhline(
        advice.exact["ndcg@10"] * advice.target, color="grey", ls="--", label=f"{advice.target} x exact"
    )
    if advice.chosen is not None:
        axes[0].scatter(
            [advice.chosen["ram_bytes_per_vector"]], [advice.chosen["ndcg@10"]], marker="*", s=150, c="k"
        )
    for ax, label in zip(axes, ("nDCG@10", "queries/s (one at a time)"), strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("RAM bytes per vector")
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
