"""Out-of-scope negatives for joint intent + slot models: off-topic sentences as an explicit intent.

The joint model's counterpart of `voice_ft.data.text_pipeline.add_negatives` (same split, same
meaning): each negative sentence (`voice_ft.data.negatives.Negatives`, generated or the user's own)
becomes a `SlotExample` of intent `oos_label` whose every word is tagged O, words split at ASCII
whitespace as the phone's `NLUParser` splits them. Its training sentences teach the model that
intent (and to tag off-topic words O); its validation sentences keep the intent's name, which
`encode_nlu(..., oos_label=oos_label)` turns into `OOS_LABEL_ID` (-1) even though the model has
that intent, so they choose and measure the rejection (`calibrate_nlu`) and stay out of the
in-scope scores.

    train, validation, intents = add_nlu_negatives(train, validation, intents, negatives, "oos")
    model = build_joint_nlu_model(backbone, intents, slot_tags)      # "oos" is its last intent
    calibration = calibrate_nlu(model, validation, oos_label="oos")  # rejects when "oos" wins
"""

from __future__ import annotations

from collections.abc import Sequence

from voice_ft.data.slot_examples import SlotExample, make_example
from voice_ft.runtime.slot_alignment import split_words

OUTSIDE = "O"


def negative_examples(texts: Sequence[str], oos_label: str, source: str = "negatives") -> list[SlotExample]:
    """One `SlotExample` per sentence: its words, all tagged O, intent `oos_label` (`source`:line in errors)."""
    examples = []
    for line, text in enumerate(texts, start=1):
        words = [word for word, _, _ in split_words(text)]
        examples.append(make_example(words, [OUTSIDE] * len(words), oos_label, source, line))
    return examples


def add_nlu_negatives(train: Sequence[SlotExample], validation: Sequence[SlotExample], intents: Sequence[str], negatives,
                      oos_label: str) -> tuple[list[SlotExample], list[SlotExample], list[str]]:  # fmt: skip
    """`(train, validation, intents + [oos_label])` with the negatives added (see the module doc).

    Encode the validation (and test) split with `oos_label=oos_label` so that its out-of-scope rows
    get intent id -1, and the training split without it so that they get the new intent's id.
    """
    if oos_label in intents:
        raise ValueError(f"oos_label {oos_label!r} is already one of the intents")
    if not negatives.train:
        raise ValueError("no training negatives to learn the out-of-scope intent from")
    train = [*train, *negative_examples(negatives.train, oos_label, "training negatives")]
    validation = [*validation, *negative_examples(negatives.validation, oos_label, "validation negatives")]
    return train, validation, [*intents, oos_label]
