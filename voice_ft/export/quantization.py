"""The TFLite quantization names voice_ft exports, and their check (TensorFlow-free).

Kept apart from `voice_ft.export.convert` so that a trainer refuses a misspelt `--quantization`
before it imports TensorFlow (seconds on a small machine).
"""

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")  # mildest first


def milder_quantization(quantization: str) -> str:
    """The next milder variant to suggest when `quantization`'s export is refused (float32 stays float32)."""
    check_quantization(quantization)
    return QUANTIZATIONS[max(QUANTIZATIONS.index(quantization) - 1, 0)]


def check_quantization(quantization: str) -> None:
    """Raises ValueError unless `quantization` is one of `QUANTIZATIONS`."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
