"""The quantization names and what a refused export is told to try instead."""

import pytest

from voice_ft.export.quantization import QUANTIZATIONS, check_quantization, milder_quantization


def test_a_refused_export_is_pointed_one_step_milder():
    assert [milder_quantization(q) for q in QUANTIZATIONS] == ["float32", "float32", "float16", "dynamic"]
    with pytest.raises(ValueError, match="quantization must be one of"):
        milder_quantization("int4")
    with pytest.raises(ValueError, match="got 'fp8'"):
        check_quantization("fp8")
