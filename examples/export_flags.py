"""The --quantization flag of the trainers and of `export_tflite.py`, checked while the flags are parsed.

A misspelt variant (`--quantization=int4`) fails before any data is read or TensorFlow is imported,
with a usage error naming the flag and the bad value, instead of after training, when the exporter
would first look at it.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import flags

from voice_ft.export.quantization import QUANTIZATIONS


def define_quantization_flag(default: Sequence[str], extra: Sequence[str] = (), help_text: str | None = None,
                             flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines --quantization (a comma-separated list of variants) and its check.

    Args:
        default: the variants exported when the flag is not given.
        extra: variant names this exporter takes besides `QUANTIZATIONS` (the audio exporter's "auto").
        help_text: the flag's help; by default, the list of variants.
        flag_values: where to define it (absl's global `FLAGS` for a trainer).
    """
    choices = (*QUANTIZATIONS, *extra)

    def check(variants: list[str]) -> bool:
        unknown = [v for v in variants if v not in choices]
        if unknown:
            raise flags.ValidationError(f"--quantization: quantization must be one of {choices}, got {unknown[0]!r}")
        return True

    flags.DEFINE_list("quantization", list(default), help_text or f"TFLite variants to export: {', '.join(choices)}.",
                      flag_values=flag_values)
    flags.register_validator("quantization", check, flag_values=flag_values)
