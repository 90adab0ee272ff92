"""The out-of-scope negatives flags of the sentence-trained trainers: --negatives and --negatives_size.

Importing this module defines them, shared by `text_trainer.py` (intent, sentiment), `train_nlu.py`
and `train_spoken_intent.py`, with one meaning: `generated` draws negatives from other bundled data
sets (SGD dialogue user turns, GoEmotions comments; those too similar to the training sentences
dropped, `voice_ft.generate_negatives`); a path reads the user's own (`.txt`, one sentence a line,
or `.jsonl` with `{"text": ...}`, `voice_ft.read_negatives`). They train an explicit out-of-scope
class named by the trainer's --oos_label (default "oos", `oos_class_label`): 80% train it, the
held-out 20% are validation out-of-scope rows (label id -1) that choose the rejection threshold.

A bad file fails in `negatives_from_flag`, which trainers call before loading a backbone, with
the file and line named; a bad --negatives_size while the flags are parsed.
"""

from __future__ import annotations

from collections.abc import Sequence

from absl import app, flags

import voice_ft
from voice_ft.data.negatives import Negatives, read_negatives, split_negatives

FLAGS = flags.FLAGS
DEFAULT_OOS_CLASS = "oos"
flags.DEFINE_string("negatives", "none", "Out-of-scope training negatives: 'none', 'generated' (from the bundled SGD "
                    "dialogues and GoEmotions, filtered away from your intents), or the path of a .txt (one sentence "
                    "a line) or .jsonl ({\"text\": ...}) file of your own. They train an extra class named --oos_label "
                    f"(default {DEFAULT_OOS_CLASS!r}).")
flags.DEFINE_float("negatives_size", 0.5, "With --negatives=generated: negatives per training sentence.")
flags.register_validator("negatives_size", lambda size: size > 0, message="--negatives_size must be positive")


def negatives_from_flag() -> list[str] | None:
    """The user's negatives for --negatives=<path> (read now: a bad file fails before training), else None."""
    value = FLAGS.negatives
    if value in ("none", "generated"):
        return None
    if not value.endswith((".txt", ".jsonl")):
        raise app.UsageError(f"--negatives must be 'none', 'generated' or a .txt/.jsonl file of negatives, got {value!r}")
    try:
        return read_negatives(value)
    except voice_ft.DataError as e:  # the file and line, as a usage error: no traceback
        raise app.UsageError(str(voice_ft.DataError(f"--negatives: {e.reason}", e.path, e.line))) from None


def oos_class_label() -> str | None:
    """The out-of-scope label: --oos_label, or "oos" with --negatives; None when neither is given."""
    return FLAGS.oos_label or (DEFAULT_OOS_CLASS if FLAGS.negatives != "none" else None)


def negatives_for(in_scope_texts: Sequence[str], user_negatives: list[str] | None) -> Negatives | None:
    """The train/validation negatives --negatives asks for (None for 'none').

    `in_scope_texts` are the training sentences generated negatives must not resemble (and whose
    count --negatives_size scales); `user_negatives` what `negatives_from_flag` read.
    """
    if FLAGS.negatives == "none":
        return None
    if user_negatives is not None:
        return split_negatives(user_negatives)
    return voice_ft.generate_negatives(in_scope_texts, size=FLAGS.negatives_size)


def negatives_line(negatives: Negatives, oos_label: str) -> str:
    """The trainers' one-line account of the out-of-scope class."""
    return (f"Out-of-scope class {oos_label!r}: {len(negatives.train)} training and {len(negatives.validation)} "
            f"validation negatives ({FLAGS.negatives})")  # fmt: skip
