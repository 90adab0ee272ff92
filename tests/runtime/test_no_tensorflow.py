"""`voice_ft.runtime` must work without importing TensorFlow (or keras / keras-hub).

Checked in a fresh interpreter, since this test process may already have imported them.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[2]

FORBIDDEN = ("tensorflow", "keras", "keras_hub", "tensorflow_text")


def run_without_tensorflow(code: str) -> str:
    """Runs `code` in a fresh Python; fails if it errors or imports anything in FORBIDDEN."""
    check = textwrap.dedent(f"""
        import sys
        bad = [m for m in {FORBIDDEN!r} if m in sys.modules]
        assert not bad, f"imported {{bad}}"
        print("NO_TF_OK")
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code) + check], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0 and "NO_TF_OK" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def test_runtime_import_and_tokenize_without_tensorflow():
    out = run_without_tensorflow("""
        import voice_ft
        import voice_ft.runtime as rt
        from voice_ft.runtime import TextClassifier, TFLiteModel, WordPieceTokenizer
        assert set(["AudioClassifier", "NLUParser", "Generator"]) <= set(rt.__all__)
        tok = WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "!"])
        ids, mask, truncated = tok.encode("Hello, héllo!", 8)
        print(ids.tolist(), mask.tolist(), truncated)
        try:
            rt.NoSuchThing
        except AttributeError:
            pass
        else:
            raise AssertionError("expected AttributeError")
    """)
    assert "[2, 4, 1, 4, 5, 3, 0, 0] [1, 1, 1, 1, 1, 1, 0, 0] False" in out
