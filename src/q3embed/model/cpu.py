"""CPU facts that decide the default precision: does this processor do bf16 matmuls natively?

With AVX512-BF16 or AMX-BF16, oneDNN runs bf16 matmuls at several times the fp32 rate; without
them bf16 is emulated and slower than fp32, so it must not be the default there.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """Feature flags of the first processor in /proc/cpuinfo (empty where there is no such file)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_native_bf16() -> bool:
    """True when the CPU has bf16 matmul instructions (x86 AVX512-BF16 or AMX-BF16)."""
    return any(f in cpu_flags() for f in NATIVE_BF16_FLAGS)


def describe_cpu() -> str:
    import torch

    native = [f for f in NATIVE_BF16_FLAGS if f in cpu_flags()]
    return (f"cpu {platform.machine()}, torch capability {torch.backends.cpu.get_cpu_capability()}, "
            f"native bf16: {', '.join(native) or 'no'}")
