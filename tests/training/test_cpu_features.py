"""Reading the CPU's bfloat16 support from /proc/cpuinfo, as the recipe does before TensorFlow loads."""

import pytest

from voice_ft.training.cpu_features import cpu_bf16_flag, cpu_has_bf16


@pytest.mark.parametrize("text, flag", [
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n", "avx512_bf16"),
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 amx_bf16 amx_tile\n", "amx_bf16"),
    ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", "bf16"),  # Arm (Graviton 3, Apple M2 under Linux)
    ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n", None),  # AVX-512 without BF16
    ("", None),
])
def test_the_bf16_flag_is_read_from_cpuinfo(tmp_path, text, flag):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert cpu_bf16_flag(str(path)) == flag
    assert cpu_has_bf16(str(path)) is (flag is not None)


def test_an_unreadable_cpuinfo_means_no_bf16(tmp_path):
    assert cpu_bf16_flag(str(tmp_path / "missing")) is None
