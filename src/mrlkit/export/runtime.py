"""Encode with an exported ONNX graph through onnxruntime, behind the usual ``SentenceTransformer`` API.

``load_onnx_model(export_dir)`` returns a ``SentenceTransformer`` whose only module runs the graph's
``sentence_embedding`` output in onnxruntime; tokenisation is the original model's, so ``encode``,
``encode_query``, ``truncate_dim`` and mrlkit's evaluators work unchanged. (sentence-transformers'
own ``backend="onnx"`` needs optimum-onnx, which requires transformers < 4.58; this path needs only
onnxruntime.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from mrlkit.errors import ConfigError, require

MANIFEST = "mrlkit_export.json"
TORCH_SOURCE = "mrlkit_torch_source"  # attribute of a load_onnx_model() model: its torch twin


class OnnxEmbedding(torch.nn.Module):
    """A sentence-transformers module that tokenises like the original and embeds in onnxruntime."""

    def __init__(self, session: Any, input_module: torch.nn.Module, dim: int) -> None:  # noqa: ANN401
        super().__init__()
        self.session = session
        object.__setattr__(self, "_input_module", input_module)  # used for tokenising; not a child
        self.input_names = [i.name for i in session.get_inputs()]
        self.dim = dim
        self.placeholder = torch.nn.Parameter(torch.zeros(0), requires_grad=False)  # gives a device

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        """Tokenise exactly as the original model's input module does."""
        return self._input().preprocess(inputs, prompt=prompt, **kwargs)

    def _input(self) -> Any:  # noqa: ANN401
        """The original model's input module (held outside the module tree)."""
        return self.__dict__["_input_module"]

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: ANN401
        """Run the graph; put its ``sentence_embedding`` output into ``features``."""
        feeds = {name: np.asarray(features[name].cpu(), dtype=np.int64) for name in self.input_names}
        (embeddings,) = self.session.run(["sentence_embedding"], feeds)
        features["sentence_embedding"] = torch.from_numpy(embeddings)
        return features

    @property
    def max_seq_length(self) -> int | None:
        """Token limit of the tokenizer (the original module's)."""
        return getattr(self._input(), "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self._input().max_seq_length = value

    def get_embedding_dimension(self) -> int:
        """Size of the graph's ``sentence_embedding`` output."""
        return self.dim

    def save(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        """Refuse: save the exported folder itself (it already holds the graph)."""
        raise ConfigError("an ONNX-backed model is read-only; copy its export folder instead")


def read_manifest(export_dir: str | Path) -> dict[str, Any]:
    """The export folder's ``mrlkit_export.json`` (variants, files, opset, source model)."""
    path = Path(export_dir) / MANIFEST
    if not path.is_file():
        raise ConfigError(
            f"{export_dir} is not an mrlkit ONNX export ({MANIFEST} is missing); "
            "create one with: mrlkit export MODEL --onnx"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def find_export(model_path: str | Path) -> Path:
    """The ONNX export of a model: ``model_path`` itself when it is one, else ``<model_path>-onnx``.

    ``<model_path>-onnx`` is where ``mrlkit export MODEL --onnx`` writes by default, so an index built
    with the torch model finds its export without being told where it is.

    Raises:
        ConfigError: Neither folder is an mrlkit ONNX export.
    """
    path = Path(model_path)
    sibling = Path(f"{str(model_path).rstrip('/')}-onnx")
    for folder in (path, sibling):
        if (folder / MANIFEST).is_file():
            return folder
    raise ConfigError(
        f"{model_path} has no ONNX export ({MANIFEST} is neither in it nor in {sibling}); create one with: "
        f"mrlkit export {model_path} --onnx --int8, or drop --model-backend onnx"
    )


def load_onnx_model(
    export_dir: str | Path,
    variant: str | None = None,
    *,
    truncate_dim: int | None = None,
    providers: list[str] | None = None,
) -> SentenceTransformer:
    """Load an export folder as a ``SentenceTransformer`` that embeds through onnxruntime.

    Args:
        export_dir: A folder written by ``mrlkit export --onnx``.
        variant: ``fp32``, ``fp16`` or ``int8`` (default: the folder's served variant: int8 or fp16
            when exported, else fp32).
        truncate_dim: Keep the first N dims, as ``SentenceTransformer(..., truncate_dim=N)``.
        providers: onnxruntime execution providers (default: CPU).

    Raises:
        ConfigError: When the folder is not an export or lacks the variant.
    """
    require("onnxruntime", "onnx", "Encoding with an ONNX export")
    import onnxruntime as ort

    manifest = read_manifest(export_dir)
    variant = variant or manifest["served"]
    files = manifest["files"]
    if variant not in files:
        raise ConfigError(
            f"{export_dir} has no {variant} graph (it has {sorted(files)}); "
            f"re-export with --{variant} or pick one of those"
        )
    graph = Path(export_dir) / files[variant]
    if not graph.is_file():
        raise ConfigError(f"{graph} is missing from the export; re-export with: mrlkit export MODEL --onnx")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph), options, providers=providers or ["CPUExecutionProvider"])
    source = SentenceTransformer(str(export_dir), device="cpu")
    dim = source.get_embedding_dimension()
    if dim is None:
        raise ConfigError(f"{export_dir}: the model has no fixed embedding dimension")
    model = SentenceTransformer(modules=[OnnxEmbedding(session, source[0], dim)], device="cpu")
    model.truncate_dim = truncate_dim
    model.prompts = dict(source.prompts)
    model.default_prompt_name = source.default_prompt_name
    model.similarity_fn_name = source.similarity_fn_name
    object.__setattr__(model, TORCH_SOURCE, source)  # the same model in torch (not a submodule)
    return model
