"""Export a trained model to ONNX (fp32, fp16, dynamic int8) with a parity report against torch."""

from mrlkit.export.onnx import ExportResult, OnnxVariant, export_onnx
from mrlkit.export.runtime import load_onnx_model

__all__ = ["ExportResult", "OnnxVariant", "export_onnx", "load_onnx_model"]
