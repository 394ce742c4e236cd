"""What the machine offers: the CPU cores this process may use (and whether a job is worth worker
processes), native bfloat16, the CPU's name."""

from __future__ import annotations

import os
import sys


def available_cores() -> int:
    """CPU cores this process may run on (a Slurm allocation's, not the whole node's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


#: Below this much work (the sum of L^2 over the sequences) one process does it all: starting
#: worker processes would cost more than they save.
PARALLEL_MIN_PIXELS = 2**20


def runs_parallel(lengths: list[int], threads: int, device: str) -> bool:
    """Does a job of these sequence lengths go to ``threads`` worker processes?"""
    return (threads > 1 and device == "cpu" and len(lengths) > 1
            and sys.platform.startswith("linux")  # fork with torch is unsafe on macOS
            and sum(n * n for n in lengths) >= PARALLEL_MIN_PIXELS)


#: ``rnastruct predict --precision``: S1 in bfloat16 where the device computes it natively, or as named
PRECISIONS = ("auto", "bf16", "fp32")


def native_bf16(device="cpu") -> bool:
    """Does ``device`` compute in bfloat16 natively (CPU: AMX or AVX512-BF16; GPU: Ampere+)?"""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:  # private helpers, absent on some builds: then assume not
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:
        return False


def cpu_name() -> str:
    """The CPU's model name and whether it has AMX (what decides S1's speed)."""
    import torch

    name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                "unknown CPU")
    try:
        amx = torch.cpu._is_amx_tile_supported()
    except AttributeError:
        amx = False
    return f"{name} ({'with' if amx else 'without'} AMX)"
