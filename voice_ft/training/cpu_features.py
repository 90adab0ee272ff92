"""What the CPU can do, read without TensorFlow (the recipe is chosen before TensorFlow is imported)."""

from __future__ import annotations

import functools

# /proc/cpuinfo flags of CPUs whose matrix units take bfloat16: x86's AVX512-BF16 and AMX-BF16, Arm's BF16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


@functools.cache
def cpu_bf16_flag(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The flag by which this CPU multiplies bfloat16 matrices natively, or None (also where unreadable).

    On such a CPU TensorFlow's oneDNN matrix products run faster in bfloat16 than in float32, and so does a
    text classifier's training step (`bench/text_training_speed.py`: `matmul_speedup_bf16`, `speedup_bf16`,
    on a 2-core AMD EPYC with AVX512-BF16); elsewhere bfloat16 is emulated and slower.
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):  # x86, Arm
                    found = sorted(BF16_CPU_FLAGS.intersection(value.split()))
                    return found[0] if found else None
    except OSError:
        pass
    return None


def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (`cpu_bf16_flag`)."""
    return cpu_bf16_flag(cpuinfo) is not None
