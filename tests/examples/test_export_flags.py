"""`examples/export_flags.py`: --quantization refuses a variant the exporter lacks while absl parses it,
so a trainer fails on a misspelt `--quantization` before it reads data, not after training."""

import sys

import pytest
from absl import flags

from example_runner import REPO

sys.path.insert(0, str(REPO / "examples"))
from export_flags import define_quantization_flag  # noqa: E402


def parsed(*args, extra=()):
    values = flags.FlagValues()
    define_quantization_flag(["float32", "int8"], extra=extra, flag_values=values)
    values(["trainer", *args])
    return values


def test_default_and_listed_variants_parse():
    assert parsed().quantization == ["float32", "int8"]
    assert parsed("--quantization=dynamic,float16").quantization == ["dynamic", "float16"]
    assert parsed("--quantization=auto", extra=["auto"]).quantization == ["auto"]


@pytest.mark.parametrize("value, bad, extra", [("int4", "int4", ()), ("float32,Dynamic", "Dynamic", ()),
                                               ("auto", "auto", ())])  # auto: only where the exporter offers it
def test_unknown_variant_is_refused_with_the_flag_and_value_named(value, bad, extra):
    with pytest.raises(flags.IllegalFlagValueError, match=rf"--quantization: quantization must be one of .*got '{bad}'"):
        parsed(f"--quantization={value}", extra=extra)
