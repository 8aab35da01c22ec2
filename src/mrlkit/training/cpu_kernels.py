"""Faster, leaner CPU training: cheap dropout masks, and attention that recomputes its dropout.

On a CPU, PyTorch draws each dropout mask with ``bernoulli_``, one serial random draw plus a
floating-point comparison per element. For all-MiniLM-L6-v2 at batch 32 and 128 tokens that is
about a fifth of a training step (``benchmarks/README.md`` §2 has the profile). Two changes here,
both switched on by :func:`cpu_training_kernels` around ``trainer.train()`` when the opt-in
``cpu_kernels`` setting is on (off by default: the masks come from a different random stream than
PyTorch's, so a run no longer matches plain sentence-transformers draw for draw):

- :class:`FastDropout` replaces the model's ``nn.Dropout`` modules. Its mask compares 31 random bits
  per element with ``round((1 - p) * 2**31)``: the same keep probability to within 2**-31 (PyTorch's
  own ``torch.rand`` has 24 bits), at about a third of the cost. Masks come from PyTorch's default
  generator, so runs stay seeded and reproducible, but the random stream differs from ``bernoulli_``'s.
  PyTorch's CPU dropout keeps a float mask for backward; this one keeps a boolean mask (3 bytes less
  per element).
- :func:`cpu_attention` is registered with transformers' ``AttentionInterface``. With attention
  dropout on a CPU, SDPA takes its math path and keeps the softmax output, the float dropout mask
  and the dropped probabilities for backward (12 bytes per attention weight); here the dropped
  probabilities are recomputed from the softmax output and a one-byte mask (5 bytes: 44 MB less per
  layer at batch 32, 128 tokens, 12 heads). Everything else (no dropout, GPU, causal or GQA
  attention, position bias, softcap) goes to transformers' own ``sdpa_attention_forward``.

On a GPU nothing changes: its dropout kernels are fast already.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

ATTENTION_NAME = "mrlkit_cpu"
_BITS = 31  # int32 ``random_()`` draws uniformly from [0, 2**31)


def keep_mask(
    shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """A boolean mask whose elements are True with probability ``1 - p``, drawn from the default generator."""
    threshold = round((1.0 - p) * 2**_BITS)
    return torch.empty(shape, dtype=torch.int32, device=device).random_() < threshold


def _masked(x: torch.Tensor, mask: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``x`` where ``mask`` holds, 0 elsewhere, times ``scale`` (two passes, no float copy of the mask)."""
    out = torch.where(mask, x, 0.0)
    return out.mul_(scale) if scale != 1.0 else out


class _MaskedScale(torch.autograd.Function):
    """``x * mask * scale``, keeping only the boolean mask for backward (as native dropout does)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return _masked(x, mask, scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:  # noqa: D102
        (mask,) = ctx.saved_tensors
        return _masked(grad, mask, ctx.scale), None, None


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """Inverted dropout like ``F.dropout``, with the cheaper mask of :func:`keep_mask` on a CPU."""
    if not training or p == 0.0:
        return x
    if p == 1.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    return _MaskedScale.apply(x, keep_mask(x.shape, p, x.device), 1.0 / (1.0 - p))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the cheaper CPU mask; a drop-in swap that keeps ``p`` and has no state."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002, D102
        return dropout(input, self.p, self.training)


class _DroppedMatmul(torch.autograd.Function):
    """``(probs * mask * scale) @ value`` that saves ``probs`` and the mask, not the dropped product."""

    @staticmethod
    def forward(  # noqa: D102
        ctx: Any, probs: torch.Tensor, value: torch.Tensor, mask: torch.Tensor, scale: float
    ) -> torch.Tensor:
        ctx.save_for_backward(probs, value, mask)
        ctx.scale = scale
        # the scale goes on the (length x head_dim) output, not on the (length x length) weights
        return torch.matmul(_masked(probs, mask), value).mul_(scale)

    @staticmethod
    def backward(  # noqa: D102
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None]:
        probs, value, mask = ctx.saved_tensors
        grad = grad * ctx.scale
        grad_probs = grad_value = None
        if ctx.needs_input_grad[0]:
            grad_probs = _masked(torch.matmul(grad, value.transpose(-1, -2)), mask)
        if ctx.needs_input_grad[1]:
            grad_value = torch.matmul(_masked(probs, mask).transpose(-1, -2), grad)
        return grad_probs, grad_value, None, None


def _sdpa(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(*args, **kwargs)


def cpu_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Transformers attention function: SDPA's math with a recomputed dropout on CPU, SDPA otherwise.

    ``query``/``key``/``value`` are ``(batch, heads, length, head_dim)``; ``attention_mask`` is the
    boolean (True: attend) or additive mask that transformers builds for SDPA. Returns the output as
    ``(batch, length, heads, head_dim)``, like ``sdpa_attention_forward``.
    A query row whose keys are all masked (boolean mask) gives 0, as SDPA does, with zero gradients.
    """
    causal = kwargs.get("is_causal")
    special = (
        dropout == 0.0
        or query.device.type != "cpu"
        or kwargs.get("position_bias") is not None
        or kwargs.get("softcap") is not None  # SDPA refuses it with a clear error
        or (getattr(module, "is_causal", True) if causal is None else causal)
        or getattr(module, "num_key_value_groups", 1) > 1
    )
    if special:
        return _sdpa(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = torch.matmul(query * scale, key.transpose(-1, -2))
    unattended = None  # query rows whose keys are all masked: 0 out, as SDPA gives, never NaN
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
            unattended = ~attention_mask.any(dim=-1, keepdim=True)
            if unattended.any():
                scores = scores.masked_fill(unattended, 0.0)
            else:
                unattended = None
        else:
            scores = scores + attention_mask
    probs = torch.softmax(scores, dim=-1)
    del scores
    if unattended is not None:
        probs = probs.masked_fill(unattended, 0.0)
    out = _DroppedMatmul.apply(
        probs, value, keep_mask(probs.shape, dropout, probs.device), 1.0 / (1.0 - dropout)
    )
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(ATTENTION_NAME, cpu_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def kernels_apply(enabled: bool) -> bool:
    """Whether :func:`cpu_training_kernels` changes anything: ``enabled`` and no CUDA or MPS device."""
    return enabled and not torch.cuda.is_available() and not torch.backends.mps.is_available()


@contextmanager
def cpu_training_kernels(model: nn.Module, enabled: bool = True) -> Iterator[int]:
    """Use :class:`FastDropout` and :func:`cpu_attention` in ``model`` while training on a CPU.

    Yields the number of modules changed (0 when disabled, on a GPU, or with nothing to change), and
    restores every dropout module and attention setting afterwards, so the model saves, loads and
    encodes exactly as before.
    """
    if not kernels_apply(enabled):
        yield 0
        return
    dropouts = [m for m in model.modules() if type(m) is nn.Dropout]
    found: dict[int, Any] = {}  # transformers configs by identity: submodules share their model's
    for m in model.modules():
        config = getattr(m, "config", None)
        if getattr(config, "_attn_implementation", None) == "sdpa":
            found[id(config)] = config
    configs = list(found.values())
    if configs:
        _register()
    for m in dropouts:
        m.__class__ = FastDropout
    for c in configs:
        c._attn_implementation = ATTENTION_NAME
    try:
        yield len(dropouts) + len(configs)
    finally:
        for m in dropouts:
            m.__class__ = nn.Dropout
        for c in configs:
            c._attn_implementation = "sdpa"
