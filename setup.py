"""voice_ft: fine-tune pretrained language and speech models into on-device voice assistants."""

import pathlib

import setuptools

ROOT = pathlib.Path(__file__).parent

# The stack that works together on Python 3.11 (see BUILD.md for why each is here).
INSTALL_REQUIRES = [
    "tensorflow>=2.21,<2.22",
    "keras>=3.15,<3.16",
    "keras-hub>=0.32,<0.33",
    "tensorflow-text>=2.21,<2.22",
    "tensorflow-datasets>=4.9.10,<4.10",
    "absl-py>=2.1",
    # grammar files (Rhino-style context YAML) with line numbers for errors.
    "pyyaml>=6",
    "ai-edge-litert>=2.3,<2.4",
    "safetensors>=0.4",
    "numpy>=1.26",
    "matplotlib>=3.8",
    # TensorBoard logs (the tensorflow wheel no longer pulls it in).
    "tensorboard>=2.20",
    # tensorflow-datasets 4.9.10 imports it to prepare a builder but does not declare it.
    "importlib_resources>=6",
]

EXTRAS_REQUIRE = {
    # Audio decoding beyond WAV, resampling, the pretrained speech embedding.
    "audio": ["soundfile>=0.12", "soxr>=0.3", "onnx>=1.16", "onnxruntime>=1.18"],
    # GGUF checkpoints and BLEU for response generation.
    "generation": ["gguf>=0.10", "sacrebleu>=2.4"],
    # faster-whisper (with ctranslate2) is only the reference the Whisper loader is tested against;
    # voice_ft reads the CTranslate2 file itself. hypothesis drives the property tests.
    "test": ["pytest>=8", "pytest-xdist>=3.6", "seqeval>=1.2", "hypothesis>=6", "faster-whisper>=1.2.1,<1.3"],
}
EXTRAS_REQUIRE["all"] = sorted({r for reqs in EXTRAS_REQUIRE.values() for r in reqs})

setuptools.setup(
    name="voice_ft",
    version="0.1.0",
    description=__doc__,
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=setuptools.find_packages(include=["voice_ft", "voice_ft.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    license="Apache-2.0",
)
