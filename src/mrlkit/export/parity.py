"""Parity of an ONNX export with the torch model: cosine per text and nDCG@10 per Matryoshka dim.

The report goes into the export folder as ``parity.json`` and ``parity.md``; the markdown's first
line says ``PASS`` or ``FAIL`` (an export below target still finishes, so a user sees the numbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sentence_transformers import SentenceTransformer

from mrlkit.data.types import IRSet, STSSet
from mrlkit.evaluation import evaluate_model

# minimum cosine to the torch embedding that each variant must reach on every sample text
COSINE_TARGETS = {"fp32": 0.999, "fp16": 0.999, "int8": 0.99}


@dataclass
class VariantParity:
    """One ONNX variant against torch."""

    variant: str
    min_cosine: float
    mean_cosine: float
    target: float
    met: bool
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)


@dataclass
class ParityReport:
    """All variants of one export, with the torch metrics they are compared to."""

    texts: int
    eval_set: str
    main_metric: str
    dims: list[int]
    torch_metrics: dict[int, dict[str, float]]
    variants: list[VariantParity]

    @property
    def passed(self) -> bool:
        """Every variant met its cosine target."""
        return all(v.met for v in self.variants)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what ``parity.json`` holds)."""
        return {"passed": self.passed, **asdict(self)}

    def markdown(self) -> str:
        """``parity.md``: PASS/FAIL first, then cosine and per-dim metric tables."""
        failed = [v.variant for v in self.variants if not v.met]
        head = (
            "PASS: every variant meets its cosine target"
            if not failed
            else (f"FAIL: {', '.join(failed)} below the cosine target")
        )
        lines = [head, "", f"Cosine to the torch embeddings on {self.texts} sample texts:", ""]
        lines += ["| variant | min cosine | mean cosine | target (min) | met |", "|---|---|---|---|---|"]
        for v in self.variants:
            met = "met" if v.met else "NOT MET"
            lines.append(f"| {v.variant} | {v.min_cosine:.5f} | {v.mean_cosine:.5f} | {v.target} | {met} |")
        if self.dims:
            m = self.main_metric
            lines += ["", f"{m} on {self.eval_set} per dim (torch vs ONNX):", ""]
            lines.append("| dim | torch | " + " | ".join(v.variant for v in self.variants) + " |")
            lines.append("|---" * (2 + len(self.variants)) + "|")
            for d in self.dims:
                cells = [f"{v.metrics[d][m]:.4f}" for v in self.variants]
                lines.append(f"| {d} | {self.torch_metrics[d][m]:.4f} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def cosine_parity(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    """Min and mean row-wise cosine between two embedding matrices of the same shape."""
    a = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    b = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    cos = (a * b).sum(axis=1)
    return float(cos.min()), float(cos.mean())


def measure_parity(
    torch_model: SentenceTransformer,
    onnx_models: dict[str, SentenceTransformer],
    texts: Sequence[str],
    eval_set: IRSet | STSSet | None,
    dims: Sequence[int],
    *,
    batch_size: int = 32,
) -> ParityReport:
    """Compare each ONNX variant with ``torch_model`` on ``texts`` and, per dim, on ``eval_set``.

    Args:
        torch_model: The model as trained.
        onnx_models: Variant name (``fp32``, ``fp16``, ``int8``) to its ONNX-backed model.
        texts: Sample texts for the cosine check.
        eval_set: Retrieval or STS set scored at each dim (``None``: cosine only).
        dims: Matryoshka dims to score.
        batch_size: Encoding batch size.
    """
    reference = torch_model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True)
    dims = list(dims) if eval_set is not None else []
    torch_metrics = _metrics(torch_model, eval_set, dims, batch_size)
    variants = []
    for name, model in onnx_models.items():
        emb = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True)
        low, mean = cosine_parity(reference, emb)
        target = COSINE_TARGETS[name]
        variants.append(
            VariantParity(name, low, mean, target, low >= target, _metrics(model, eval_set, dims, batch_size))
        )
    main = "spearman" if isinstance(eval_set, STSSet) else "ndcg@10"
    name = getattr(eval_set, "name", "eval set") if eval_set is not None else "none"
    return ParityReport(len(texts), str(name), main, dims, torch_metrics, variants)


def _metrics(
    model: SentenceTransformer, eval_set: IRSet | STSSet | None, dims: list[int], batch_size: int
) -> dict[int, dict[str, float]]:
    if eval_set is None or not dims:
        return {}
    return evaluate_model(model, eval_set, dims, batch_size=batch_size, show_progress_bar=False)
