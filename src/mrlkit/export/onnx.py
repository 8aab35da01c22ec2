"""``mrlkit export MODEL --onnx``: an ONNX copy of a model, fp16/int8 variants and a parity report.

The export folder is the model's own sentence-transformers folder (so tokenizer, modules and
weights travel with it) plus ``onnx/model.onnx`` (fp32), optionally ``onnx/model_fp16.onnx`` or
``onnx/model_qint8.onnx``, ``mrlkit_export.json`` (which file is which) and ``parity.json`` /
``parity.md``. Everything is written to a temporary folder beside the target and renamed into place
at the end, so a failed export leaves nothing half-written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sentence_transformers import SentenceTransformer

from mrlkit.data.types import IRSet, STSSet
from mrlkit.errors import ConfigError, require
from mrlkit.export.graph import INT8_EXCLUDE, attention_shape, convert_fp16, export_fp32, quantize_int8
from mrlkit.export.parity import ParityReport, measure_parity
from mrlkit.export.runtime import MANIFEST, load_onnx_model
from mrlkit.models.resolve import resolve_model
from mrlkit.training.dims import validate_dims

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 17
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "samples" / "scifact-mini"


class OnnxVariant(str, Enum):
    """Precision of an exported graph."""

    FP32 = "fp32"  # always exported: the traced graph
    FP16 = "fp16"  # for GPUs (onnxruntime-gpu); runs, slowly, on CPU
    INT8 = "int8"  # dynamic quantisation for CPUs


FILES = {
    OnnxVariant.FP32: "onnx/model.onnx",
    OnnxVariant.FP16: "onnx/model_fp16.onnx",
    OnnxVariant.INT8: "onnx/model_qint8.onnx",
}


@dataclass
class ExportResult:
    """Where the export went and how close it is to torch."""

    output_dir: Path
    files: dict[str, str]
    served: str
    parity: ParityReport


def check_model_dir(model: str) -> str:
    """Resolve ``model`` to a loadable SentenceTransformer folder or refuse with the fix."""
    path = Path(model).expanduser()
    if path.is_dir() and not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"{model} is not a model folder (no modules.json or config.json); pass the folder that "
            "finetune wrote (OUTPUT_DIR/model) or a hub id"
        )
    return resolve_model(model)


def export_onnx(
    model: str,
    output_dir: str | Path | None = None,
    *,
    fp16: bool = False,
    int8: bool = False,
    opset: int = DEFAULT_OPSET,
    eval_data: str | IRSet | STSSet | None = None,
    dims: Sequence[int] | None = None,
    parity_texts: int = 64,
    batch_size: int = 32,
    overwrite: bool = False,
    int8_exclude: str = "ffn-out",
) -> ExportResult:
    """Export ``model`` to ONNX, add the fp16 or int8 copy asked for and write the parity report.

    Args:
        model: A model folder (e.g. ``OUTPUT_DIR/model`` from finetune) or a hub id.
        output_dir: The export folder (default: ``<model>-onnx`` beside a local model).
        fp16: Also write an fp16 graph (for GPUs).
        int8: Also write a dynamically quantised int8 graph (for CPUs).
        opset: ONNX opset of the traced graph.
        eval_data: Retrieval/STS data scored at each dim, torch vs ONNX (default: the shipped
            SciFact excerpt); a path is read with :func:`mrlkit.data.load_eval_set`.
        dims: Dims scored in the report (default: the model dim, then powers of 2 to 32).
        parity_texts: How many texts of ``eval_data`` the cosine check compares.
        batch_size: Encoding batch size.
        overwrite: Replace an existing export folder.
        int8_exclude: ``ffn-out`` keeps the feed-forward down-projections fp32 (min cosine to torch
            >= 0.99 on MiniLM); ``none`` quantises them too (about 20% faster, min cosine about 0.99).

    Raises:
        ConfigError: On fp16 and int8 together, a bad opset, a path that is not a model or an
            existing output folder without ``overwrite``.
    """
    if fp16 and int8:
        raise ConfigError("--fp16 and --int8 are separate exports (GPU and CPU); run export once for each")
    if not 7 <= opset <= 21:
        raise ConfigError(f"opset must be between 7 and 21, got {opset}; the default {DEFAULT_OPSET} works")
    if parity_texts <= 0:
        raise ConfigError(f"parity_texts must be > 0, got {parity_texts}")
    if int8_exclude not in INT8_EXCLUDE:
        raise ConfigError(f"int8_exclude must be one of {', '.join(INT8_EXCLUDE)}, got {int8_exclude!r}")
    require("onnxruntime", "onnx", "ONNX export")
    require("onnx", "onnx", "ONNX export")
    source = check_model_dir(model)
    out = Path(output_dir) if output_dir is not None else Path(f"{source.rstrip('/')}-onnx")
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists; pass --overwrite or choose another --output-dir")
    eval_set = _eval_set(eval_data)
    torch_model = SentenceTransformer(source, device="cpu")
    model_dim = torch_model.get_embedding_dimension()
    if model_dim is None:
        raise ConfigError(f"model {model!r} has no fixed embedding dimension; export a dense embedding model")
    dims = validate_dims(None if dims is None else list(dims), model_dim)

    variants = [OnnxVariant.FP32] + [OnnxVariant.FP16] * fp16 + [OnnxVariant.INT8] * int8
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        torch_model.save(str(tmp))
        (tmp / "onnx").mkdir(exist_ok=True)
        export_fp32(torch_model, tmp / FILES[OnnxVariant.FP32], opset)
        if fp16:
            shape = attention_shape(torch_model)
            convert_fp16(tmp / FILES[OnnxVariant.FP32], tmp / FILES[OnnxVariant.FP16], shape)
        kept = None
        if int8:
            kept = quantize_int8(
                tmp / FILES[OnnxVariant.FP32],
                tmp / FILES[OnnxVariant.INT8],
                int8_exclude,
                attention_shape(torch_model),
            )
        files = {v.value: FILES[v] for v in variants}
        served = variants[-1].value
        manifest = {"source_model": model, "opset": opset, "files": files, "served": served, "dims": dims}
        if kept is not None:
            manifest["int8"] = {"exclude": int8_exclude, "fp32_matmuls": kept}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        parity = measure_parity(
            torch_model,
            {v.value: load_onnx_model(tmp, v.value) for v in variants},
            _sample_texts(eval_set, parity_texts),
            eval_set,
            dims,
            batch_size=batch_size,
        )
        (tmp / "parity.json").write_text(json.dumps(parity.to_dict(), indent=1), encoding="utf-8")
        (tmp / "parity.md").write_text(parity.markdown(), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out, files, served, parity)


def _eval_set(eval_data: str | IRSet | STSSet | None) -> IRSet | STSSet:
    if isinstance(eval_data, (IRSet, STSSet)):
        return eval_data
    from mrlkit.data import load_eval_set

    return load_eval_set(str(eval_data) if eval_data is not None else str(SAMPLE_DIR))


def _sample_texts(eval_set: IRSet | STSSet, n: int) -> list[str]:
    """Up to ``n`` texts: half queries and half documents (or both sides of STS pairs)."""
    if isinstance(eval_set, IRSet):
        queries, docs = list(eval_set.queries.values()), list(eval_set.corpus.values())
    else:
        queries, docs = eval_set.sentences1, eval_set.sentences2
    half = n // 2
    texts = queries[:half] + docs[: n - min(half, len(queries))]
    return texts[:n]
