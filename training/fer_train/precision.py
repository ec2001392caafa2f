"""Mixed precision for training and inference: what the device can run (bf16 on CPUs with BF16 instructions and on
Ampere+ GPUs, fp16 with a scaler on older GPUs, else fp32) and the autocast context the run uses."""
from __future__ import annotations

from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def cpu_has_bf16() -> bool:
    """AVX512-BF16 / AMX (x86) or the BF16 extension (arm64): where bf16 autocast pays off on a CPU."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "bf16"))


def choose_precision(setting: str, device: torch.device) -> str:
    """auto: bf16 where the device has it (Ampere+ GPUs, CPUs with BF16 instructions), fp16 on other GPUs (T4, V100,
    GTX 10/20: with a GradScaler), fp32 on CPUs without BF16. An explicit setting the device cannot run is an error."""
    if device.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported()
        if setting == "auto":
            return "bf16" if bf16 else "fp16"
        if setting == "bf16" and not bf16:
            raise SystemExit(f"config: precision bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16 or auto")
        return setting
    if setting == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    if setting == "fp16":
        raise SystemExit("config: precision fp16 is for GPUs; on a CPU use bf16, fp32 or auto")
    return setting


_AMP = {"bf16": torch.bfloat16, "fp16": torch.float16}
_precision = {"value": "bf16"}


def autocast_ctx(device: torch.device, precision: str | None = None):
    p = precision or _precision["value"]
    return torch.autocast(device.type, dtype=_AMP.get(p, torch.bfloat16), enabled=p in _AMP)
