"""Where a run's figures came from: the machine and the peak memory, stored next to every figure."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any

import torch

__all__ = ["machine_info", "peak_gpu_memory_mb", "peak_memory_mb"]


def machine_info() -> dict[str, Any]:
    """The hardware a measurement came from, stored next to every figure."""
    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB); :func:`peak_gpu_memory_mb` gives the GPU's."""
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 1024.0


def peak_gpu_memory_mb() -> float | None:
    """Peak memory PyTorch allocated on the current CUDA device (MB), or ``None`` without one.

    :func:`finetune` resets the counter when it starts, so two runs in one process (a benchmark's
    arms) each report their own peak.
    """
    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 2**20
