"""Trace a SentenceTransformer into one ONNX graph and derive its fp16 and int8 copies.

The graph takes the tokenizer's tensors (``input_ids``, ``attention_mask`` and, for BERT-like models,
``token_type_ids``) and returns two outputs: ``last_hidden_state`` (the transformer's token
embeddings, which is what sentence-transformers' ONNX backend reads before running its own pooling
modules) and ``sentence_embedding`` (pooling, any Dense head and Normalize folded in, which is all a
plain onnxruntime user needs).

The fp32 graph is traced by ``torch.onnx.export`` (the TorchScript exporter) with the model's eager
attention, whose pattern onnxruntime's transformer optimizer recognises; fp16 goes through that
optimizer (``optimize_model`` + ``convert_float_to_float16``, inputs and outputs kept in fp32); int8 is
the optimizer's fused graph (one ``Attention`` op per layer) with the weights of its MatMul and
Attention ops quantised per channel and its activations at run time (dynamic quantisation). The
feed-forward down-projections stay fp32 by default: quantising them too is about 20% faster and drops
the minimum cosine to torch below 0.99 (``benchmarks/README.md``, ONNX export).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("last_hidden_state", "sentence_embedding")
INT8_EXCLUDE = ("ffn-out", "none")  # MatMuls kept fp32 in the int8 graph (see quantize_int8)
_SAMPLE_TEXTS = ["a short text", "a somewhat longer text, so that the batch holds padding tokens"]


class _EmbeddingGraph(torch.nn.Module):
    """The model's forward pass with positional tensor inputs and the two named outputs."""

    def __init__(self, model: SentenceTransformer, input_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(dict(zip(self.input_names, tensors, strict=True)))
        return out["token_embeddings"], out["sentence_embedding"]


def model_input_names(model: SentenceTransformer) -> list[str]:
    """The tokenizer tensors the model's first module takes, in :data:`INPUT_NAMES` order."""
    features = model.preprocess(_SAMPLE_TEXTS[:1])
    return [name for name in INPUT_NAMES if name in features]


@contextlib.contextmanager
def _eager_attention(model: SentenceTransformer) -> Iterator[None]:
    """Trace with eager attention (the pattern onnxruntime fuses), then restore the model's own."""
    inner = getattr(model[0], "auto_model", None)
    config = getattr(inner, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if inner is None or before is None or not hasattr(inner, "set_attn_implementation"):
        yield
        return
    try:
        inner.set_attn_implementation("eager")
    except (ValueError, ImportError):  # a model without an eager path: trace what it has
        yield
        return
    try:
        yield
    finally:
        inner.set_attn_implementation(before)


def export_fp32(model: SentenceTransformer, path: Path, opset: int) -> None:
    """Trace ``model`` (on CPU, eval mode) into ``path`` with dynamic batch and sequence axes."""
    model = model.to("cpu").eval()
    features = model.preprocess(_SAMPLE_TEXTS)
    names = model_input_names(model)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings(), _eager_attention(model):
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the TorchScript exporter
        torch.onnx.export(
            _EmbeddingGraph(model, names),
            tuple(features[name] for name in names),
            str(path),
            input_names=names,
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )


def attention_shape(model: SentenceTransformer) -> tuple[int, int]:
    """``(num_heads, hidden_size)`` of the transformer for the Attention fusion; ``(0, 0)``: unknown."""
    config = getattr(getattr(model[0], "auto_model", None), "config", None)
    heads = getattr(config, "num_attention_heads", 0) or 0
    hidden = getattr(config, "hidden_size", 0) or 0
    return int(heads), int(hidden)


def convert_fp16(fp32_path: Path, path: Path, shape: tuple[int, int] = (0, 0)) -> None:
    """Write an fp16 copy of ``fp32_path`` (BERT-style fusions first; fp32 inputs and outputs)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(fp32_path), model_type="bert", num_heads=shape[0], hidden_size=shape[1], opt_level=1
    )
    optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(path))


def quantize_int8(
    fp32_path: Path, path: Path, exclude: str = "ffn-out", shape: tuple[int, int] = (0, 0)
) -> list[str]:
    """Write a dynamically quantised copy of the optimizer's fused graph; return the MatMuls kept fp32.

    ``exclude="ffn-out"`` keeps the down-projections (MatMuls whose weight maps more inputs to fewer
    outputs: the feed-forward outputs, and a Dense head that shrinks the dim) in fp32; ``"none"``
    quantises every MatMul and Attention weight. ``shape``: :func:`attention_shape` of the model.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    fused = path.with_name(f".{path.name}.fused")
    try:
        optimized = optimize_model(
            str(fp32_path), model_type="bert", num_heads=shape[0], hidden_size=shape[1], opt_level=0
        )
        optimized.save_model_to_file(str(fused))
        graph = onnx.load(str(fused), load_external_data=False).graph
        shapes = {i.name: tuple(i.dims) for i in graph.initializer}
        kept = [
            node.name
            for node in graph.node
            if exclude == "ffn-out"
            and node.op_type == "MatMul"
            and any(len(shapes.get(x, ())) == 2 and shapes[x][0] > shapes[x][1] for x in node.input)
        ]
        quantize_dynamic(
            str(fused),
            str(path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            nodes_to_exclude=kept,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        fused.unlink(missing_ok=True)
    return kept
