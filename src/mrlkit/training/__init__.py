"""Training stage: losses, dims and the fine-tuning loop."""

from mrlkit.training.dims import default_dims, validate_dims
from mrlkit.training.finetune import FinetuneResult, finetune
from mrlkit.training.losses import build_loss

__all__ = ["FinetuneResult", "build_loss", "default_dims", "finetune", "validate_dims"]
