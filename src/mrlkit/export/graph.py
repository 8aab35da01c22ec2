"""Trace a SentenceTransformer into one ONNX graph and derive its fp16 and int8 copies.

The graph takes the tokenizer's tensors (``input_ids``, ``attention_mask`` and, for BERT-like models,
``token_type_ids``) and returns two outputs: ``last_hidden_state`` (the transformer's token
embeddings, which is what sentence-transformers' ONNX backend reads before running its own pooling
modules) and ``sentence_embedding`` (pooling, any Dense head and Normalize folded in, which is all a
plain onnxruntime user needs).

The fp32 graph is traced by ``torch.onnx.export`` (the TorchScript exporter); fp16 goes through
onnxruntime's transformer optimizer (``optimize_model`` + ``convert_float_to_float16``, inputs and
outputs kept in fp32); int8 is onnxruntime's dynamic quantisation of the MatMul weights, per channel.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("last_hidden_state", "sentence_embedding")
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


def export_fp32(model: SentenceTransformer, path: Path, opset: int) -> None:
    """Trace ``model`` (on CPU, eval mode) into ``path`` with dynamic batch and sequence axes."""
    model = model.to("cpu").eval()
    features = model.preprocess(_SAMPLE_TEXTS)
    names = model_input_names(model)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["last_hidden_state"] = {0: "batch", 1: "sequence"}
    axes["sentence_embedding"] = {0: "batch"}
    with torch.no_grad(), warnings.catch_warnings():
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


def convert_fp16(fp32_path: Path, path: Path) -> None:
    """Write an fp16 copy of ``fp32_path`` (BERT-style fusions first; fp32 inputs and outputs)."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(fp32_path), model_type="bert", num_heads=0, hidden_size=0, opt_level=1)
    optimized.convert_float_to_float16(keep_io_types=True)
    optimized.save_model_to_file(str(path))


def quantize_int8(fp32_path: Path, path: Path) -> None:
    """Write a dynamically quantised copy: int8 MatMul weights per channel, activations at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_path),
        str(path),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
