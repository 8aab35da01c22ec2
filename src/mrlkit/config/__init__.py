"""Typed configuration for ``mrlkit finetune``: one dataclass filled by YAML files and CLI flags alike.

Every default lives here. ``FinetuneConfig.load(yaml_path, **overrides)`` reads a YAML file, then
applies the CLI's explicit flags on top, and validates the result. The fields are in
:mod:`mrlkit.config.finetune`, the choices in :mod:`mrlkit.config.enums`.
"""

from mrlkit.config.checks import check_distill, check_projection_and_margin, check_sparse
from mrlkit.config.enums import (
    Activation,
    Adaptor,
    LossKind,
    MatryoshkaMode,
    ModelType,
    Panel,
    Precision,
    ReportTo,
    Rotation,
)
from mrlkit.config.finetune import FinetuneConfig
from mrlkit.config.parsing import _enum, _read_yaml, parse_value

__all__ = [
    "Activation",
    "Adaptor",
    "FinetuneConfig",
    "LossKind",
    "MatryoshkaMode",
    "ModelType",
    "Panel",
    "Precision",
    "ReportTo",
    "Rotation",
    "_enum",
    "_read_yaml",
    "check_distill",
    "check_projection_and_margin",
    "check_sparse",
    "parse_value",
]
