"""`SpeechToIntent`: waveform in, intent and canonical slot values out, TF-free (numpy + LiteRT).

Chains two exported files and one small JSON:

1. the Whisper recogniser (`SpeechRecognizer`: sidecar, prefix or folder) turns the clip into text;
2. the transcript is normalised the way WER compares words (`voice_ft.runtime.words.normalize_words`:
   NFKC, lowercase, punctuation and symbols to spaces, apostrophes inside words kept), because the NLU model was
   trained on the grammar's plain lowercase words, not on Whisper's "Turn on the lights.";
3. the joint intent + slot `.tflite` (`NLUParser`) parses it, applying its sidecar's calibrated
   "I didn't understand" rule;
4. every slot phrase is mapped to the grammar's canonical value with the grammar-values JSON
   (`grammar_values.json`, written on the training side by
   `voice_ft.speech_to_intent.grammar_values.write_grammar_values`):

       {"task": "grammar_values", "version": 1, "grammar": "smart_home.yml",
        "slots": {"temperature": {"eighteen degrees": "18", "18": "18", ...}, ...}}

   Keys are slot *names* (what the BIO tags carry), phrases are normalised like transcripts.
   `"automata": {intent: {"states", "finals", "edges"}}` holds each intent's expressions as a word
   automaton (`voice_ft.runtime.grammar_match`, written by `grammar_values.grammar_automata`).

Two adjacent spans of one slot whose words together are a grammar phrase are one value ("on" +
"weekdays" -> "on weekdays" -> `weekdays`): the tagger sometimes opens a multi-word value twice.

An utterance outside the grammar is reported, not forced into an intent: `not_understood` is
True, `intent` None and `slots` empty when the NLU rejects it ("rejected"), when a slot phrase has
no canonical value ("slot_not_in_grammar"), when a slot name comes twice ("repeated_slot": no
expression has a slot twice), when the transcript is more than `max_grammar_edits` word edits from
every saying of the intent the NLU chose ("not_in_grammar": checked where the grammar-values file
has `automata`; the answer's `grammar_edits` is the distance), or when nothing was transcribed
("empty_transcript"); `reason` says which, and `best_intent` / `slot_spans` keep what the models did say, for logs. Without a
grammar-values file, slot values are the spoken phrases and only the NLU rejects.

A transcript that is a saying of the grammar (of one intent, or of the NLU's best intent among several)
is read by the grammar itself where the NLU does not understand it or reads it in a way the grammar cannot
(another intent, or slot spans no path of the intent tags so: `GrammarAutomaton.reads`): its automaton's
path gives the intent and the slot values' tags (`GrammarAutomaton.parse`), as an on-device grammar engine
reads it. So on a saying of the grammar the NLU's reading stands only where the grammar agrees with it, and
an expression the NLU never trained on ("make it darker in the hall") is still read right when it is heard
right. `understood_by` says which read the answer ("nlu" / "grammar").
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any

import numpy as np

from voice_ft.runtime.audio_io import check_sample_rate, read_audio, resample, samples_from_array
from voice_ft.runtime.errors import InputTypeError
from voice_ft.runtime.grammar_match import GrammarAutomaton, GrammarPrefixes
from voice_ft.runtime.nlu_parser import NLUParser
from voice_ft.runtime.sidecar import SidecarError
from voice_ft.runtime.speech_recognizer import SpeechRecognizer
from voice_ft.runtime.words import normalize_words

GRAMMAR_VALUES_TASK = "grammar_values"
GRAMMAR_VALUES_FILE = "grammar_values.json"
NLU_FILE = "nlu.tflite"
RECOGNIZER_PREFIX = "speech_recognizer"
# Word edits a transcript may be from a saying of the grammar. 0: with the second decoding inside the grammar
# (below) a near miss is heard again as a saying, and out-of-grammar speech is refused more often than with 1
# (bench/README.md, "Decoding again inside the grammar"); without the second decoding, 1 loses fewer commands.
DEFAULT_MAX_GRAMMAR_EDITS = 0
# The least mean log-probability per token (nats) of a transcript decoded inside the grammar for it to be
# taken: misheard commands decoded again scored -0.45 to -0.20, out-of-grammar speech -0.52 and below
# (bench/README.md, "Decoding again inside the grammar").
DEFAULT_MIN_GRAMMAR_LOG_PROB = -0.5


def normal_phrase(phrase: str) -> str:
    """The key a slot phrase is looked up under: its `normalize_words` joined by single spaces."""
    return " ".join(normalize_words(phrase))


def read_grammar_values(path: str | os.PathLike) -> dict[str, dict[str, str]]:
    """slot name -> {normalised phrase: canonical value} from a grammar-values JSON; errors name the file."""
    path = pathlib.Path(path)
    return _slot_values(_grammar_values_content(path), path)


def read_grammar_automata(path: str | os.PathLike) -> dict[str, GrammarAutomaton] | None:
    """intent -> `GrammarAutomaton` from a grammar-values JSON, or None when it has none (a file
    written before they were); errors name the file."""
    path = pathlib.Path(path)
    return _automata(_grammar_values_content(path), path)


def _slot_values(content: dict, path: pathlib.Path) -> dict[str, dict[str, str]]:
    slots = content.get("slots")
    if not isinstance(slots, dict) or not all(
        isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in v.items()) for v in slots.values()
    ):
        raise SidecarError(f"Grammar-values file {path}: field 'slots' must map slot names to {{phrase: value}} objects.")
    return {name: {normal_phrase(k): v for k, v in phrases.items()} for name, phrases in slots.items()}


def _automata(content: dict, path: pathlib.Path) -> dict[str, GrammarAutomaton] | None:
    automata = content.get("automata")
    if automata is None:
        return None
    try:
        return {str(intent): GrammarAutomaton.from_dict(a) for intent, a in dict(automata).items()}
    except (TypeError, KeyError, ValueError) as e:
        raise SidecarError(f"Grammar-values file {path}: field 'automata' is malformed: {e}") from None


def _grammar_values_content(path: pathlib.Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"Grammar-values file {path} not found; the speech-to-intent exporter writes it "
                                "(voice_ft.speech_to_intent.grammar_values.write_grammar_values).")  # fmt: skip
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SidecarError(f"Grammar-values file {path} is not valid JSON: {e}") from None
    task = content.get("task") if isinstance(content, dict) else None
    if task != GRAMMAR_VALUES_TASK:
        raise SidecarError(f"{path} is not a grammar-values file (task={task!r}, expected {GRAMMAR_VALUES_TASK!r}).")
    return content


def word_tags(text: str, spans: list[dict]) -> list[str]:
    """The BIO tags of `text`'s space-separated words from slot spans (character offsets into `text`): "B-slot"
    on the word a span starts at, "I-slot" on the words after it inside the span, "O" elsewhere."""
    tags, position = [], 0
    for word in text.split(" "):
        start, position = position, position + len(word) + 1
        span = next((s for s in spans if s["start"] <= start < s["end"]), None)
        tags.append("O" if span is None else ("B-" if span["start"] == start else "I-") + span["slot"])
    return tags


def check_waveform(audio, sample_rate, model_rate: int) -> np.ndarray:
    """A path or a `(samples,)` / `(samples, channels)` / `(channels, samples)` array -> float32 mono at
    `model_rate`, checked as `AudioClassifier` checks its input (`audio_io.samples_from_array`)."""
    rate = check_sample_rate(sample_rate)
    if isinstance(audio, (str, os.PathLike)):
        return read_audio(audio, model_rate)
    return resample(samples_from_array(audio, "waveform"), rate, model_rate)


class SpeechToIntent:
    """Speech in, `{"intent", "slots", "transcript", "confidence", "not_understood", ...}` out.

    Args:
        recognizer: the exported recogniser, as `SpeechRecognizer` takes it (sidecar, prefix, folder).
        nlu: the exported joint NLU `.tflite` (its sidecar and vocabulary beside it).
        grammar_values: the grammar-values JSON; None keeps slot values as spoken.
        num_threads: CPU threads for each interpreter.
        max_tokens: the most tokens the recogniser generates per clip.
        max_grammar_edits: the most word edits a transcript may be from a saying of the chosen intent's
            expressions (`grammar_match`; 0: exactly a sentence of the grammar); None: no such check.
        min_grammar_log_prob: a clip not understood is decoded again inside the grammar, and that
            transcript is taken if its mean log-probability per token is at least this (see `__call__`);
            None: decode once.

    Example:
        >>> s2i = SpeechToIntent.from_dir("runs/smart_home")
        >>> s2i(waveform_16k)  # doctest: +SKIP
        {'intent': 'setTemperature', 'slots': {'temperature': '21'}, 'transcript': ' Set the heating to twenty one.', ...}
    """

    def __init__(self, recognizer, nlu, grammar_values=None, num_threads: int = 1, max_tokens: int | None = None,
                 max_grammar_edits: int | None = DEFAULT_MAX_GRAMMAR_EDITS,
                 min_grammar_log_prob: float | None = DEFAULT_MIN_GRAMMAR_LOG_PROB):
        nlu = pathlib.Path(nlu)
        if not nlu.is_file():
            raise FileNotFoundError(f"NLU model {nlu} not found; export it with voice_ft.nlu.export.export_nlu_tflite.")
        self.recognizer = SpeechRecognizer(recognizer, num_threads=num_threads, max_tokens=max_tokens)
        self.parser = NLUParser(nlu, num_threads=num_threads)
        self.values = automata = None
        if grammar_values is not None:  # one read of the file for both of its fields
            content = _grammar_values_content(pathlib.Path(grammar_values))
            self.values, automata = _slot_values(content, grammar_values), _automata(content, grammar_values)
        if max_grammar_edits is not None and max_grammar_edits < 0:
            raise ValueError(f"max_grammar_edits must be >= 0 or None, got {max_grammar_edits}.")
        if min_grammar_log_prob is not None and not min_grammar_log_prob <= 0:
            raise ValueError(f"min_grammar_log_prob is a log-probability: <= 0 or None, got {min_grammar_log_prob}.")
        self.max_grammar_edits = max_grammar_edits
        self.min_grammar_log_prob = min_grammar_log_prob
        self.automata = automata if max_grammar_edits is not None else None
        self._prefixes = GrammarPrefixes(automata.values()) if automata and min_grammar_log_prob is not None else None
        if self.values is not None:
            names = sorted({tag[2:] for tag in self.parser.slot_tags if tag[:2] in ("B-", "I-")})
            missing = [n for n in names if n not in self.values]
            if missing:
                raise SidecarError(f"Grammar-values file {grammar_values} has no values for the NLU model's slots {missing} "
                                   f"({nlu}); were they exported from the same grammar?")  # fmt: skip

    @classmethod
    def from_dir(cls, run_dir: str | os.PathLike, **kwargs) -> SpeechToIntent:
        """The three files `voice_ft.speech_to_intent` exports into a run directory, by their names."""
        run_dir = pathlib.Path(run_dir)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"Speech-to-intent folder {run_dir} not found.")
        values = run_dir / GRAMMAR_VALUES_FILE
        return cls(run_dir / RECOGNIZER_PREFIX, run_dir / NLU_FILE, values if values.is_file() else None, **kwargs)

    @property
    def sample_rate(self) -> int:
        return self.recognizer.sample_rate

    def understand_text(self, transcript: str) -> dict[str, Any]:
        """The NLU + grammar half of `__call__`, for a transcript (what a test or a keyboard gives)."""
        if not isinstance(transcript, str):
            raise InputTypeError(f"transcript must be text, got {type(transcript).__name__}")
        text = " ".join(normalize_words(transcript))
        result = {"intent": None, "slots": {}, "transcript": transcript, "text": text, "confidence": 0.0,
                  "not_understood": True, "reason": None, "best_intent": None, "slot_spans": [],
                  "grammar_edits": None, "understood_by": None}  # fmt: skip
        if not text:
            return {**result, "reason": "empty_transcript"}
        parsed = self.parser.parse(text)
        best = parsed.get("best_intent", parsed["intent"])
        spans = [{**span, "canonical": self._canonical(span["slot"], span["value"])}
                 for span in self._join_split_values(parsed["slots"], text)]  # fmt: skip
        result.update(confidence=float(parsed["confidence"]), best_intent=best, slot_spans=spans)
        by_nlu = self._nlu_answer(result, parsed, best, spans, text)
        if self.automata is not None and (by_nlu["not_understood"] or not self._grammar_reads_as_nlu(best, spans, text)):
            by_grammar = self._grammar_answer(by_nlu, text)
            if by_grammar is not None:
                return by_grammar
        return by_nlu

    def _grammar_reads_as_nlu(self, intent: str, spans: list[dict], text: str) -> bool:
        """Whether a path of `intent`'s automaton reads `text` with the NLU's slot spans. True where the
        grammar cannot tell (no automaton for `intent`, or one written without tags). Where it is False and
        `text` is no saying of the grammar at all, `_grammar_answer` has no reading and the NLU's stands."""
        automaton = self.automata.get(intent)
        if automaton is None or not automaton.tagged:
            return True
        return automaton.reads(text.split(), word_tags(text, spans))

    def _nlu_answer(self, result: dict, parsed: dict, best: str, spans: list[dict], text: str) -> dict[str, Any]:
        """The NLU's reading, checked against the grammar: understood, or not with its reason."""
        names = [s["slot"] for s in spans]
        if parsed.get("not_understood"):
            return {**result, "reason": "rejected"}
        if any(s["canonical"] is None for s in spans):
            return {**result, "reason": "slot_not_in_grammar"}
        if len(set(names)) < len(names):
            return {**result, "reason": "repeated_slot"}
        if self.automata is not None:
            automaton = self.automata.get(best)
            result["grammar_edits"] = automaton.distance(text.split()) if automaton is not None else None
            if result["grammar_edits"] is None or result["grammar_edits"] > self.max_grammar_edits:
                return {**result, "reason": "not_in_grammar"}
        return {**result, "intent": best, "slots": {s["slot"]: s["canonical"] for s in spans}, "not_understood": False,
                "understood_by": "nlu"}  # fmt: skip

    def _grammar_answer(self, result: dict, text: str) -> dict[str, Any] | None:
        """The grammar's own reading of a transcript the NLU did not understand, where it is a saying of
        exactly one intent (the NLU's best intent, where it is a saying of several) whose automaton has
        tags; None otherwise. Slot values are the tagged phrases' canonical values."""
        words = text.split()
        readings = {intent: tags for intent, a in self.automata.items() if a.tagged and (tags := a.parse(words)) is not None}
        if len(readings) > 1:
            readings = {i: t for i, t in readings.items() if i == result["best_intent"]}
        if len(readings) != 1:
            return None
        (intent, tags), = readings.items()
        slots: dict[str, str] = {}
        for word, tag in zip(words, tags):
            if tag.startswith("B-"):
                if tag[2:] in slots:
                    return None  # no expression holds a slot twice; a grammar that did is not read here
                slots[tag[2:]] = word
            elif tag.startswith("I-"):
                if tag[2:] not in slots:
                    return None
                slots[tag[2:]] += f" {word}"
        canonical = {name: self._canonical(name, phrase) for name, phrase in slots.items()}
        if any(v is None for v in canonical.values()):
            return None
        return {**result, "intent": intent, "slots": canonical, "not_understood": False, "reason": None,
                "grammar_edits": 0, "understood_by": "grammar"}  # fmt: skip

    def _join_split_values(self, spans: list[dict], text: str) -> list[dict]:
        """Adjacent spans of one slot, only a space apart, become one span where the words they make
        together are a grammar phrase: a tagger that opens the value again on its second word
        (B-day B-day over "every weekday") would otherwise leave two halves with no canonical value."""
        if self.values is None:
            return list(spans)
        joined: list[dict] = []
        for span in spans:
            last = joined[-1] if joined else None
            if (last is not None and last["slot"] == span["slot"] and last["end"] <= span["start"]
                    and not text[last["end"] : span["start"]].strip()):  # fmt: skip
                phrase = f"{last['value']} {span['value']}"
                if self._canonical(span["slot"], phrase) is not None:
                    joined[-1] = {**last, "value": phrase, "end": span["end"]}
                    continue
            joined.append(dict(span))
        return joined

    def _canonical(self, slot: str, phrase: str) -> str | None:
        if self.values is None:
            return phrase
        return self.values.get(slot, {}).get(normal_phrase(phrase))

    def __call__(self, waveform, sample_rate: int = 16000) -> dict[str, Any]:
        """Transcribes one clip (float [-1, 1] or integer PCM, mono or (samples, channels), or a file path) and understands it.

        A clip whose free transcript is not understood is decoded again inside the grammar (where the
        grammar-values file has automata and `min_grammar_log_prob` is not None: each step the likeliest
        token that keeps the text a beginning of a saying, `GrammarPrefixes`); that transcript is taken
        when it is understood and its mean log-probability per token is at least `min_grammar_log_prob`
        (a word misheard costs little; speech the grammar does not hold, forced into it, costs much).
        `decoding` says which was taken ("free" / "grammar"), `free_transcript` keeps the first, and
        `grammar_log_prob` is the second's mean log-probability (None where there was no second decoding).
        """
        start = time.perf_counter()
        samples = check_waveform(waveform, sample_rate, self.recognizer.sample_rate)
        recognizer = self.recognizer
        encoded = recognizer.encode(recognizer.features(samples))
        free_text = recognizer.detokenize(recognizer.greedy_tokens(encoded))
        result = {**self.understand_text(free_text), "decoding": "free", "free_transcript": free_text,
                  "grammar_log_prob": None}  # fmt: skip
        if result["not_understood"] and self._prefixes is not None:
            inside, score = recognizer.scored_tokens(encoded, allows=self._prefixes.allows, is_whole=self._prefixes.is_saying)
            if inside is not None:
                mean = score / (len(inside) + 1)  # the <|endoftext|> step counts
                result["grammar_log_prob"] = mean
                if mean >= self.min_grammar_log_prob:
                    again = self.understand_text(recognizer.detokenize(inside))
                    if not again["not_understood"]:
                        result = {**again, "decoding": "grammar", "free_transcript": free_text, "grammar_log_prob": mean}
        result["seconds"] = time.perf_counter() - start
        return result
