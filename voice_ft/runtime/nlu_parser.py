"""`NLUParser`: text in, intent and slots out, from an exported joint NLU `.tflite` (no TensorFlow).

    >>> parser = NLUParser("nlu.tflite")
    >>> parser.parse("wake me up at seven am")  # doctest: +SKIP
    {'intent': 'SetAlarm', 'confidence': 0.99, 'slots': [{'slot': 'time', 'value': 'seven am', 'start': 14, 'end': 22}]}

The same steps as the Keras `voice_ft.nlu.model.parse`, with the same code
(`voice_ft.runtime.slot_alignment`, numpy only): split the text into words at ASCII whitespace, WordPiece
each word, run the model, take each word's first-piece slot scores, decode them (BIO-constrained
or CRF Viterbi, as the sidecar says) and map entities back to character offsets in the original
text. Sidecar schema (task "joint_nlu"): `intent_labels`, `slot_tags`, `tokenizer`,
`sequence_length`, `slot_decoder` (`decoding`, optional `crf` scores), `inputs`, `outputs`.

Optional "I didn't understand" on the intent head, the same blocks as a text classifier's
(`voice_ft.runtime.probabilities`, `voice_ft.runtime.rejection`): "calibration" (temperature) and
"rejection" (threshold, score, `oos_label` among the intent labels). A rejected utterance gets
`intent=None`, `not_understood=True` and `best_intent` (the best in-scope intent); with a
rejection block every result carries `not_understood`. Below the threshold the slots are still
decoded (the app may ask "did you mean ...?" with them); when the `oos_label` intent wins (an
explicit out-of-scope intent trained on negatives) there are none: the utterance is about nothing
the app does, so its words fill no slot of it.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Sequence

import numpy as np

from voice_ft.runtime.interpreter import TFLiteModel
from voice_ft.runtime.probabilities import calibrated_softmax, sidecar_temperature
from voice_ft.runtime.rejection import rejected_result, sidecar_rejection
from voice_ft.runtime.sidecar import SidecarError, check_output_width, load_sidecar, require_field, sidecar_path
from voice_ft.runtime.slot_alignment import SlotDecoder, align_words, parse_result, split_words
from voice_ft.runtime.text_classifier import check_text, check_texts, wordpiece_from_sidecar


class NLUParser:
    """Parses utterances with an exported voice_ft joint intent + slot model.

    Args:
        tflite_path: the `.tflite` file; its sidecar `<stem>.json` and vocabulary sit beside it.
        num_threads: interpreter threads.
    """

    def __init__(self, tflite_path: str | os.PathLike, num_threads: int = 1):
        self.path = pathlib.Path(tflite_path)
        self.sidecar = sidecar_path(self.path)
        meta = load_sidecar(self.path, task="joint_nlu")
        self.metadata = meta
        self.intents = [str(x) for x in require_field(meta, self.sidecar, "intent_labels", list)]
        self.slot_tags = [str(x) for x in require_field(meta, self.sidecar, "slot_tags", list)]
        self.sequence_length = require_field(meta, self.sidecar, "sequence_length", int)
        inputs = require_field(meta, self.sidecar, "inputs", dict)
        outputs = require_field(meta, self.sidecar, "outputs", dict)
        self._ids_name = require_field(inputs, self.sidecar, "token_ids", str)
        self._mask_name = require_field(inputs, self.sidecar, "padding_mask", str)
        self._intent_name = require_field(outputs, self.sidecar, "intent_logits", str)
        self._slot_name = require_field(outputs, self.sidecar, "slot_logits", str)
        try:
            self.decoder = SlotDecoder.from_config(self.slot_tags, meta.get("slot_decoder") or {})
        except ValueError as e:
            raise SidecarError(f"Sidecar {self.sidecar}: slot_decoder: {e}") from e
        self.temperature = sidecar_temperature(meta, self.sidecar)
        self.rejection = sidecar_rejection(meta, self.sidecar, self.intents)
        self.tokenizer = wordpiece_from_sidecar(meta, self.sidecar)
        self.model = TFLiteModel(self.path, num_threads=num_threads)
        for name in (self._ids_name, self._mask_name):
            if name not in self.model.input_details:
                raise SidecarError(f"Sidecar {self.sidecar} names input {name!r}; the model has {self.model.input_names}.")
        for name in (self._intent_name, self._slot_name):
            if name not in self.model.output_details:
                raise SidecarError(f"Sidecar {self.sidecar} names output {name!r}; the model has {self.model.output_names}.")
        check_output_width(self.sidecar, self.model.output_details, self._intent_name, self.intents, "intent labels")
        check_output_width(self.sidecar, self.model.output_details, self._slot_name, self.slot_tags, "slot tags")

    def logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list]:
        """(intent logits [N, I], slot logits [N, T, K], per text (words, aligned)) for a batch."""
        prepared = []
        for text in texts:
            words = split_words(text)
            prepared.append((words, align_words(self.tokenizer, [w for w, _, _ in words], self.sequence_length)))
        ids = np.stack([a.token_ids for _, a in prepared])
        mask = np.stack([a.padding_mask for _, a in prepared])
        out = self.model(**{self._ids_name: ids, self._mask_name: mask})
        intent_logits, slot_logits = out[self._intent_name], out[self._slot_name]
        if intent_logits.shape[-1] != len(self.intents) or slot_logits.shape[-1] != len(self.slot_tags):
            raise ValueError(
                f"{self.path} outputs {intent_logits.shape[-1]} intents and {slot_logits.shape[-1]} slot tags but the "
                f"sidecar lists {len(self.intents)} and {len(self.slot_tags)}."
            )
        return intent_logits, slot_logits, prepared

    def parse_batch(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One `parse` result per text."""
        texts = check_texts(texts)
        if not texts:
            return []
        intent_logits, slot_logits, prepared = self.logits(texts)
        probs = calibrated_softmax(intent_logits, self.temperature)
        results = []
        for i, (text, slots, (words, aligned)) in enumerate(zip(texts, slot_logits, prepared)):
            tags = self.decoder.word_tags(slots, aligned.word_positions)
            result = parse_result(text, words, probs[i], self.intents, tags)
            if self.rejection is not None:
                _, best, value, rejected = self.rejection.decide(intent_logits[i : i + 1], self.temperature)
                decided = rejected_result(self.intents, probs[i], int(best[0]), value[0], rejected[0], self.rejection, "intent")
                out_of_scope = self.rejection.oos_index is not None and int(probs[i].argmax()) == self.rejection.oos_index
                result = {**decided, "slots": [] if out_of_scope else result["slots"]}
            results.append(result)
        return results

    def parse(self, text: str) -> dict[str, Any]:
        """`{"intent", "confidence", "slots": [{"slot", "value", "start", "end"}]}` for one utterance.

        `start`/`end` are character offsets into `text`: `text[start:end] == value`.
        """
        return self.parse_batch([check_text(text)])[0]

    __call__ = parse
