"""The out-of-scope flags of the NLU and audio trainers: --calibrate, --reject_rate, --score, --oos_label.

Importing this module defines them, with the text trainers' defaults and meaning (`text_trainer.py`):
after training, the temperature and the "I didn't understand" rule are fitted on the validation
split's logits (`voice_ft.evaluation.calibration.calibrate_logits`, through `voice_ft.calibrate` or
`voice_ft.nlu.train.calibrate_nlu`), shipped in the exported sidecar (the phone runtime then answers
label None / not_understood below the threshold) and checked on the .tflite against Keras. A bad
value fails while the flags are parsed, before any data is read, with a message naming the flag.
Training an explicit out-of-scope class from negatives has its own flags (`negatives_flags.py`,
`train_speech_commands.py`'s --negatives_dir); the class is then named by --oos_label.
"""

from __future__ import annotations

import pathlib

from absl import flags

from voice_ft.evaluation import reports

FLAGS = flags.FLAGS
flags.DEFINE_bool("calibrate", True, "Fit a temperature and a rejection threshold on the validation split; "
                  "ship them in the sidecar (and write reliability_diagram.png).")
flags.DEFINE_float("reject_rate", 0.02, "Without out-of-scope validation examples: the fraction of in-scope "
                   "validation examples the threshold rejects (0: no rejection, only calibrated confidences).")
flags.DEFINE_enum("score", "auto", ["auto", "max_softmax", "energy"], "Rejection score: max softmax probability, "
                  "logit energy, or auto (the best AUROC on validation out-of-scope rows; the text classifiers' "
                  "auto also weighs the Mahalanobis distance of the sentence embedding).")
flags.DEFINE_string("oos_label", None, "Label marking out-of-scope rows of the validation/test data (e.g. 'oos'): they "
                    "choose the threshold (max in-scope accuracy + OOS recall, lowered while the OOS recall stays "
                    ">= 0.95) and are reported as OOS recall; training data must not hold it. With --negatives "
                    "(--negatives_dir), also the name of the out-of-scope class trained on them (default 'oos').")
flags.register_validator("reject_rate", lambda rate: 0.0 <= rate < 1.0, message="--reject_rate must be in [0, 1)")
flags.register_validator("oos_label", lambda label: label is None or bool(label.strip()),
                         message="--oos_label must be a non-empty label")  # fmt: skip


def target_in_scope_rejection() -> float | None:
    """--reject_rate as `calibrate_logits` takes it (None: no threshold)."""
    return FLAGS.reject_rate or None


def write_reliability_diagram(calibration, run_dir: pathlib.Path) -> None:
    """reliability_diagram.png in the run directory: accuracy against confidence before and after T."""
    reports.plot_reliability_diagram(calibration.report, pathlib.Path(run_dir) / "reliability_diagram.png")
