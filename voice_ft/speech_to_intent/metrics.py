"""How well the chained pipeline understands commands: command acceptance rate and its parts.

A reference is a `Command` (intent, canonical slot values, what was said); a prediction is a
`voice_ft.runtime.SpeechToIntent` result (`intent`, `slots` {name: canonical value},
`not_understood`, `transcript`).

- **command acceptance rate**: the fraction of commands whose intent *and every slot value* come
  out exactly right, and that are not reported as not understood: what a user experiences (a
  thermostat set to 20 instead of 21 is a failure even with the right intent);
- **intent accuracy**: right intent (a not-understood answer has none, so it counts as wrong);
- **slot precision / recall / F1** over (slot name, canonical value) pairs: word-level BIO
  scores do not apply after recognition (the transcript's words need not be the reference's).
  With no reference and no predicted pairs at all, F1 is 1.0 (nothing to find, nothing wrong);
- **not-understood rate**, and **WER** of the transcripts (`voice_ft.asr.metrics`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence


@dataclasses.dataclass(frozen=True)
class Command:
    """What a clip asks for: the intent, its canonical slot values and the words said."""

    intent: str
    slots: Mapping[str, str]
    transcript: str = ""

    @classmethod
    def from_example(cls, example) -> Command:
        """From a `from_grammar` sentence (`GrammarExample`: intent, slot_values, words)."""
        return cls(example.intent, dict(example.slot_values), example.text)


def _check(references: Sequence[Command], predictions: Sequence[Mapping]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions.")
    if not references:
        raise ValueError("no commands to score.")


def accepted(reference: Command, prediction: Mapping) -> bool:
    """True when the prediction is understood, with the right intent and exactly the right slots."""
    return (not prediction.get("not_understood", False) and prediction.get("intent") == reference.intent
            and dict(prediction.get("slots") or {}) == dict(reference.slots))  # fmt: skip


def command_acceptance_rate(references: Sequence[Command], predictions: Sequence[Mapping]) -> float:
    """Fraction of commands `accepted` (intent and every slot value exactly right)."""
    _check(references, predictions)
    return sum(accepted(r, p) for r, p in zip(references, predictions)) / len(references)


def slot_value_prf(references: Sequence[Command], predictions: Sequence[Mapping]) -> dict:
    """Precision, recall and F1 of (slot name, canonical value) pairs over all commands."""
    _check(references, predictions)
    gold = predicted = correct = 0
    for reference, prediction in zip(references, predictions):
        want = set(dict(reference.slots).items())
        got = set(dict(prediction.get("slots") or {}).items())
        gold, predicted, correct = gold + len(want), predicted + len(got), correct + len(want & got)
    if gold == 0 and predicted == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def speech_to_intent_report(references: Sequence[Command], predictions: Sequence[Mapping]) -> dict:
    """Every figure of the module docstring, plus the number of commands."""
    from voice_ft.asr.metrics import word_error_rate

    _check(references, predictions)
    slots = slot_value_prf(references, predictions)
    n = len(references)
    return {
        "command_acceptance_rate": command_acceptance_rate(references, predictions),
        "intent_accuracy": sum(p.get("intent") == r.intent for r, p in zip(references, predictions)) / n,
        "slot_precision": slots["precision"], "slot_recall": slots["recall"], "slot_f1": slots["f1"],
        "not_understood_rate": sum(bool(p.get("not_understood")) for p in predictions) / n,
        "wer": word_error_rate([r.transcript for r in references], [p.get("transcript", "") for p in predictions]),
        "num_commands": n,
    }
