"""Read a CTranslate2 `model.bin` into NumPy arrays, without importing ctranslate2.

CTranslate2 (the engine behind faster-whisper) stores a converted model as one little-endian
binary file, written by `ctranslate2.specs.model_spec.ModelSpec._serialize` (binary version 6):

    uint32 binary_version
    string spec_name          (uint16 length including the trailing NUL, bytes, NUL)
    uint32 spec_revision
    uint32 num_variables
    num_variables x:
        string name
        uint8  rank, rank x uint32 dims
        uint8  dtype id       (float32, int8, int16, int32, float16, bfloat16: ids 0..5)
        uint32 num_bytes, raw bytes
    uint32 num_aliases
    num_aliases x: string alias, string variable_name

Versions 1 and 2 of the format used different headers, so only 3..6 are accepted. Reading
this directly keeps ctranslate2 (a native wheel) out of the run-time dependencies: voice_ft
only needs the weights, not the engine.
"""

from __future__ import annotations

import dataclasses
import pathlib
import struct

import numpy as np

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h). bfloat16 has no NumPy
# dtype; it is widened to float32 on read.
_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
SUPPORTED_BINARY_VERSIONS = (3, 4, 5, 6)


class CT2FormatError(ValueError):
    """Raised when a file is not a CTranslate2 model this reader understands."""


@dataclasses.dataclass
class CT2Model:
    """The contents of a CTranslate2 `model.bin`.

    Attributes:
        path: the file that was read.
        binary_version: the format version in the header.
        spec_name: the model spec that wrote it, e.g. ``"WhisperSpec"``.
        revision: the spec's revision number.
        variables: every stored variable by name (aliases resolved, so tied weights appear
            under each of their names and share one array).
        aliases: alias name -> the variable name it points to.
    """

    path: pathlib.Path
    binary_version: int
    spec_name: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


class _Cursor:
    """Sequential reads over a bytes buffer that fail with the file's name when it runs out."""

    def __init__(self, data: bytes, path: pathlib.Path):
        self.data = memoryview(data)
        self.offset = 0
        self.path = path

    def take(self, size: int) -> memoryview:
        end = self.offset + size
        if end > len(self.data):
            raise CT2FormatError(
                f"{self.path}: truncated CTranslate2 model file (needs {end} bytes at least, has "
                f"{len(self.data)}); re-install or re-convert the model."
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        size = self.unpack("H")
        raw = bytes(self.take(size))
        if size == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self.path}: malformed string at byte {self.offset - size}; not a CTranslate2 model?")
        return raw[:-1].decode("utf-8")


def read_ct2(path: str | pathlib.Path) -> CT2Model:
    """Reads a CTranslate2 `model.bin`.

    Args:
        path: the `model.bin` file, or the model folder that holds it.

    Returns:
        A `CT2Model`. float16 arrays stay float16 (the caller decides the compute dtype);
        bfloat16 arrays are returned as float32.

    Raises:
        FileNotFoundError: when the file does not exist.
        CT2FormatError: for a file of another format, an unsupported binary version, or a
            truncated file; the message names the file.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / "model.bin"
    data = path.read_bytes()
    cursor = _Cursor(data, path)
    version = cursor.unpack("I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise CT2FormatError(
            f"{path}: not a CTranslate2 model of a supported binary version (header says {version}, "
            f"this reader knows {SUPPORTED_BINARY_VERSIONS})."
        )
    spec_name = cursor.string()
    revision = cursor.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("I")):
        name = cursor.string()
        shape = tuple(cursor.unpack("I") for _ in range(cursor.unpack("B")))
        type_id = cursor.unpack("B")
        if type_id >= len(_DTYPES):
            raise CT2FormatError(f"{path}: variable {name!r} has unknown dtype id {type_id}.")
        num_bytes = cursor.unpack("I")
        raw = cursor.take(num_bytes)
        variables[name] = _to_array(raw, _DTYPES[type_id], shape, name, path)
    aliases = {}
    for _ in range(cursor.unpack("I")):
        alias = cursor.string()
        aliases[alias] = cursor.string()
    if cursor.offset != len(data):
        raise CT2FormatError(f"{path}: {len(data) - cursor.offset} unexpected bytes after the model.")
    for alias, target in aliases.items():
        if target not in variables:
            raise CT2FormatError(f"{path}: alias {alias!r} points to missing variable {target!r}.")
        variables[alias] = variables[target]
    return CT2Model(path, version, spec_name, revision, variables, aliases)


def _to_array(raw: memoryview, dtype: str, shape: tuple, name: str, path: pathlib.Path) -> np.ndarray:
    """Copies one variable's bytes into a (writable, owned) NumPy array."""
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    else:
        array = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).copy()
    expected = int(np.prod(shape, dtype=np.int64))
    if array.size != expected:
        raise CT2FormatError(f"{path}: variable {name!r} has {array.size} values for shape {shape}.")
    return array.reshape(shape)
