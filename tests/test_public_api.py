"""The public API: every exported name resolves, and `import voice_ft` stays light."""

import subprocess
import sys

import voice_ft


def test_every_public_name_resolves():
    for name in voice_ft.__all__:
        assert getattr(voice_ft, name) is not None, name


def test_import_is_lazy():
    code = "import sys, voice_ft, voice_ft.runtime; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_out_of_scope_names_are_public():
    for name in ("generate_negatives", "read_negatives", "Negatives"):
        assert name in voice_ft.__all__ and getattr(voice_ft, name).__module__ == "voice_ft.data.negatives"
