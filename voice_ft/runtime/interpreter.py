"""`TFLiteModel`: a small, TensorFlow-free wrapper over the LiteRT interpreter.

Why: every runtime task (text, audio, generation) needs the same things from a `.tflite`
file: load it with clear errors, name inputs/outputs by their *signature* names (stable
across conversions, unlike tensor names such as `serving_default_token_ids:0`), cast inputs
to the declared dtypes and accept any batch size. The default signature runner of
`ai_edge_litert.interpreter.Interpreter` provides the naming and resizes inputs to the
shapes passed in; this wrapper adds validation and dtype casting on top.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

_TFLITE_IDENTIFIER = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite


class TFLiteModel:
    """Runs the default signature of a `.tflite` file.

    Args:
        path: the `.tflite` file.
        num_threads: CPU threads for the interpreter.

    Attributes:
        input_details / output_details: `{signature name: tensor details}` as returned by
            LiteRT (`shape`, `shape_signature` with -1 for dynamic dims, `dtype`, ...).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int = 1):
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"TFLite model not found: {self.path}")
        with open(self.path, "rb") as f:
            header = f.read(8)
        if len(header) < 8 or header[4:8] != _TFLITE_IDENTIFIER:
            raise ValueError(
                f"{self.path} is not a TFLite flatbuffer (expected identifier {_TFLITE_IDENTIFIER!r} "
                f"at bytes 4-8, found {header[4:8]!r})."
            )
        try:
            self._interpreter = Interpreter(model_path=self.path, num_threads=num_threads)
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"LiteRT could not load {self.path}: {e}") from e
        signatures = self._interpreter.get_signature_list()
        if not signatures:
            raise ValueError(f"{self.path} has no signature; export it from a SavedModel with a serving signature.")
        self.signature_key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
        self._runner = self._interpreter.get_signature_runner(self.signature_key)
        self.input_details: dict[str, dict[str, Any]] = self._runner.get_input_details()
        self.output_details: dict[str, dict[str, Any]] = self._runner.get_output_details()

    @property
    def input_names(self) -> list[str]:
        return list(self.input_details)

    @property
    def output_names(self) -> list[str]:
        return list(self.output_details)

    def _prepare(self, name: str, value: Any) -> np.ndarray:
        detail = self.input_details[name]
        array = np.asarray(value)
        if array.dtype != detail["dtype"]:
            array = array.astype(detail["dtype"])
        expected = detail.get("shape_signature", detail["shape"])
        if array.ndim != len(expected):
            raise ValueError(
                f"Input {name!r} of {self.path} expects rank {len(expected)} (shape {list(expected)}), "
                f"got shape {list(array.shape)}."
            )
        # The batch dimension (0) may always be resized; other fixed dims must match.
        for axis, (want, got) in enumerate(zip(expected, array.shape)):
            if axis > 0 and want != -1 and want != got:
                raise ValueError(
                    f"Input {name!r} of {self.path} expects shape {list(expected)} (-1 = any), "
                    f"got {list(array.shape)}."
                )
        return np.ascontiguousarray(array)

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        """Runs the model; keyword names and returned keys are signature names."""
        missing = set(self.input_details) - set(inputs)
        unknown = set(inputs) - set(self.input_details)
        if missing or unknown:
            raise ValueError(
                f"{self.path} takes inputs {sorted(self.input_details)}; "
                f"missing {sorted(missing)}, unexpected {sorted(unknown)}."
            )
        prepared = {name: self._prepare(name, value) for name, value in inputs.items()}
        # The signature runner resizes every input to the given shape, then allocates.
        outputs = self._runner(**prepared)
        return {name: np.array(value) for name, value in outputs.items()}

    def __repr__(self) -> str:
        ins = {n: ([int(x) for x in d["shape_signature"]], np.dtype(d["dtype"]).name) for n, d in self.input_details.items()}
        return f"TFLiteModel({self.path!r}, inputs={ins})"
