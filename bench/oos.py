"""Out-of-scope ("I didn't understand") benchmark: SNIPS intents, generated negatives, held-out OOS test.

    .venv/bin/python bench/oos.py                          # the default recipe (SNIPS: one epoch)
    .venv/bin/python bench/oos.py --train_limit=512 --epochs=1   # a smoke run

Methods (`--method`, issue 14's 2a-2c):
- generated (2c, the trainers' `--negatives=generated`, the default): `voice_ft.generate_negatives`
  draws out-of-scope sentences from the *train* splits of the bundled SGD dialogues (user turns) and
  GoEmotions (comments), drops those too close to the SNIPS training sentences, and trains them as an
  explicit "oos" class (80%); the other 20% are validation OOS rows on which `voice_ft.calibrate` fits
  the temperature, picks the score (max softmax or energy, by AUROC) and the threshold.
- user (2b, `--negatives=<file>`): the same with negatives a user wrote themselves, here BANKING77
  training queries (so the BANKING77 part of the OOS test is the user's own domain; the per-source
  recall shows the rest).
- threshold (2a): a plain 7-intent classifier; the generated negatives' validation part only chooses
  the threshold. Every method also reports the threshold chosen without OOS validation rows (2% of
  in-scope validation rejected: `no_oos_data_*`) and the balanced one (`balanced_*`).

Held-out OOS test set, disjoint from the training negatives by construction: sentences from the
*test* splits of SGD (user turns of dialogues none of whose services overlap SNIPS's intents:
Restaurants, Weather, Music, Media, Movies and Events dialogues are left out, since a request there
may be in scope) and GoEmotions, plus BANKING77 test queries (a domain no negative comes from); any
sentence equal (lower-cased, whitespace collapsed) to a training negative or a SNIPS sentence is
dropped. Seeded sample of `--oos_test` sentences, a third from each source.

Reports, on the SNIPS test split + that OOS set, for the Keras model with the sidecar's rule:
in-scope accuracy (accepted and right, over in-scope), OOS recall (rejected OOS / OOS), OOS precision
(rejected OOS / rejected), AUROC of the chosen score (in-scope vs OOS; an OOS-class win scores
lowest), ECE of the in-scope test probabilities before/after temperature scaling, and the exported
dynamic-int8 `.tflite`'s OOS recall (from `export_tflite`'s verification, same rule).
Last line: one JSON object with in_scope_accuracy, oos_recall, oos_precision, auroc, ece_before,
ece_after, tflite_oos_recall (and more).
"""

from __future__ import annotations

import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

import voice_ft  # noqa: E402
from common import machine, print_result  # noqa: E402
from oos_test_set import held_out_oos  # noqa: E402
from voice_ft.data.bundled import data_root  # noqa: E402
from voice_ft.data.labels import OOS_LABEL_ID  # noqa: E402
from voice_ft.data.negatives import normalise, split_negatives  # noqa: E402
from voice_ft.data.sequence_length import choose_sequence_length  # noqa: E402
from voice_ft.data.text_pipeline import add_negatives, in_scope, label_counts  # noqa: E402
from voice_ft.evaluation.calibration import calibrate_logits, decision_rates, expected_calibration_error  # noqa: E402
from voice_ft.evaluation.metrics import auroc  # noqa: E402
from voice_ft.runtime.probabilities import calibrated_softmax  # noqa: E402
from voice_ft.runtime.rejection import SCORES, rejection_scores  # noqa: E402
from voice_ft.evaluation.distance_score import fit_class_gaussians, logits_and_embeddings  # noqa: E402
from voice_ft.training.auto_recipe import TEXT_CLASSIFIER_RULES  # noqa: E402
from voice_ft.training.precision import compute_in_float32, mixed_precision_policy  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("backbone", "all-minilm-l6-v2", "Backbone spec.")
flags.DEFINE_integer("epochs", None, "Epochs (default: steps chosen from the data by voice_ft.choose_recipe).")
flags.DEFINE_integer("train_limit", None, "Use only the first N SNIPS training examples (smoke runs).")
flags.DEFINE_float("negatives_size", 0.5, "Generated negatives per in-scope training sentence.")
flags.DEFINE_integer("oos_test", 1500, "Held-out out-of-scope test sentences.")
flags.DEFINE_integer("seed", 0, "Seed of the negatives and of the OOS test sample.")
flags.DEFINE_string("out_dir", None, "Keep the exported files here (default: a temporary folder).")
flags.DEFINE_enum("method", "generated", ["threshold", "user", "generated"], "Issue 14's 2a (a plain classifier and "
                  "a threshold), 2b (an 'oos' class from the user's negatives: BANKING77 training queries) or 2c "
                  "(an 'oos' class from generated negatives, the default).")
flags.DEFINE_enum("score", "auto", ["auto", *SCORES], "Rejection score; auto: the best validation AUROC of the three.")

PROBES = ["what is the capital of peru", "tell me a joke", "how tall is mount everest", "what's up"]


def negatives_for(method: str, train_texts: list[str]):
    """The out-of-scope sentences of a method: generated (2c), the "user's" own (2b: BANKING77 training
    queries, a domain a user could list as not theirs), or generated ones used only to choose the
    threshold of a plain classifier (2a)."""
    if method == "user":
        rows = (data_root() / "banking77" / "train.jsonl").read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in rows]
        count = int(FLAGS.negatives_size * len(train_texts))
        picked = np.random.default_rng(FLAGS.seed).permutation(len(texts))[:count]
        return split_negatives([texts[i] for i in picked], seed=FLAGS.seed, report={"source": "banking77 train"})
    return voice_ft.generate_negatives(train_texts, size=FLAGS.negatives_size, seed=FLAGS.seed)


def main(argv):
    del argv
    train, validation, test, labels = voice_ft.datasets.load("snips", task="intent")
    if FLAGS.train_limit:
        train = train.take(FLAGS.train_limit)
    train_texts = [t.decode("utf-8") for t, _ in train.as_numpy_iterator()]
    negatives = negatives_for(FLAGS.method, train_texts)
    in_scope_labels = list(labels)
    oos_label = None if FLAGS.method == "threshold" else "oos"
    if oos_label:
        train, validation, labels = add_negatives(train, validation, labels, negatives, oos_label)
    else:  # no OOS class: the negatives' validation part only chooses the threshold
        validation = validation.concatenate(tf.data.Dataset.from_tensor_slices(
            (tf.constant(negatives.validation), tf.fill([len(negatives.validation)], OOS_LABEL_ID))))  # fmt: skip

    snips_all = {normalise(t.decode("utf-8")) for ds in (train, validation, test) for t, _ in ds.as_numpy_iterator()}
    oos_sets = held_out_oos(snips_all | {normalise(t) for t in negatives.train + negatives.validation},
                            FLAGS.oos_test, FLAGS.seed)  # fmt: skip
    oos_texts = [t for texts in oos_sets.values() for t in texts]
    test_all = test.concatenate(tf.data.Dataset.from_tensor_slices(
        (tf.constant(oos_texts), tf.fill([len(oos_texts)], tf.constant(OOS_LABEL_ID, tf.int32)))))  # fmt: skip

    overrides = {"epochs": FLAGS.epochs} if FLAGS.epochs else {}
    choice = voice_ft.choose_recipe(voice_ft.DataProfile.from_label_counts(label_counts(train, len(labels))), overrides,
                                    **TEXT_CLASSIFIER_RULES)
    print(f"Recipe:\n{choice.describe()}", flush=True)
    with mixed_precision_policy(choice.recipe.mixed_precision):  # the recipe's bfloat16, where the CPU has it
        backbone = voice_ft.load_backbone(FLAGS.backbone)
        sequence_length = choose_sequence_length(tf.data.Dataset.from_tensor_slices(train_texts), backbone.tokenizer,
                                                 max_length=backbone.max_sequence_length).sequence_length  # fmt: skip
        model = voice_ft.build_intent_classifier(backbone, num_labels=len(labels), sequence_length=sequence_length)
    start = time.perf_counter()
    voice_ft.fit(model, train, in_scope(validation), recipe=choice.recipe, verbose=2)
    train_seconds = time.perf_counter() - start
    compute_in_float32(model)  # scored, calibrated and exported as the phone computes

    # Three rules fitted on one pass of validation logits and embeddings: the default (lowered to 95% OOS
    # recall), the balanced one, and one chosen without the OOS rows (2% of in-scope rejected). --score:
    # each picks among the max softmax, the energy and the Mahalanobis distance (fitted on train) by AUROC.
    oos_class = labels.index(oos_label) if oos_label else None
    gaussians = fit_class_gaussians(model, train, oos_class)
    y_val, val_logits, val_embeddings = logits_and_embeddings(model, validation)
    val_distance = gaussians.score(val_embeddings)
    rule = {"oos_class": oos_class, "oos_label": oos_label, "score": FLAGS.score}
    calibration = calibrate_logits(val_logits, y_val, distance_score=val_distance, **rule)
    calibration.gaussians = gaussians
    balanced = calibrate_logits(val_logits, y_val, target_oos_recall=None, distance_score=val_distance, **rule)
    keep_val = y_val >= 0
    no_oos_data = calibrate_logits(val_logits[keep_val], y_val[keep_val], distance_score=val_distance[keep_val], **rule)
    y_true, logits, test_embeddings = logits_and_embeddings(model, test_all)
    distance = gaussians.score(test_embeddings)
    best, rejected = calibration.decide(logits, distance)
    rates = decision_rates(best, rejected, y_true)
    balanced_rates = decision_rates(*balanced.decide(logits, distance), y_true)
    no_oos_data_rates = decision_rates(*no_oos_data.decide(logits, distance), y_true)
    keep = y_true >= 0
    test_aurocs = {}
    for name in SCORES:
        _, _, v, wins = rejection_scores(logits, calibration.temperature, name, calibration.oos_index, distance)
        v = np.where(wins, -np.inf, v)
        test_aurocs[name] = auroc(v[keep], v[~keep])
    _, _, value, oos_wins = rejection_scores(logits, calibration.temperature, calibration.score, calibration.oos_index,
                                             distance)  # fmt: skip
    value = np.where(oos_wins, -np.inf, value)
    per_source, offset = {}, int(keep.sum())
    for name, texts in oos_sets.items():
        per_source[name] = float(rejected[offset : offset + len(texts)].mean())
        offset += len(texts)

    out_dir = pathlib.Path(FLAGS.out_dir or tempfile.mkdtemp(prefix="voice_ft_oos_"))
    # Measured, not refused (tolerance 100 points): `tflite_within_half_point` says whether issue 14's 0.5 holds.
    exported = voice_ft.export_tflite(model, out_dir / "snips_oos.tflite", quantization="dynamic", verify_on=test_all,
                                      labels=labels, overwrite=True, calibration=calibration, tolerance=100.0)  # fmt: skip
    from voice_ft.runtime import TextClassifier

    phone = TextClassifier(out_dir / "snips_oos.tflite")
    probes = {text: phone(text) for text in PROBES}
    result = {
        "in_scope_accuracy": rates["in_scope_accuracy"],
        "oos_recall": rates["oos_recall"],
        "oos_precision": rates["oos_precision"],
        "auroc": auroc(value[keep], value[~keep]),
        "ece_before": expected_calibration_error(calibrated_softmax(logits, 1.0), y_true),
        "ece_after": expected_calibration_error(calibrated_softmax(logits, calibration.temperature), y_true),
        "tflite_oos_recall": exported.tflite_oos_recall,
        "tflite_in_scope_accuracy": exported.tflite_in_scope_accuracy,
        "tflite_within_half_point": bool(
            abs(exported.tflite_oos_recall - rates["oos_recall"]) <= 0.005
            and abs(exported.tflite_in_scope_accuracy - rates["in_scope_accuracy"]) <= 0.005),
        "method": FLAGS.method,
        "score": calibration.score,
        "threshold": calibration.threshold,
        "temperature": calibration.temperature,
        "validation_ece_before": calibration.ece_before,
        "validation_ece_after": calibration.ece_after,
        "validation_auroc": calibration.report["rejection"].get("auroc"),
        # AUROC on the test rows of each score, the Mahalanobis distance on the sentence embedding beside the logit ones
        "test_auroc_by_score": test_aurocs,
        "plain_accuracy": float(np.mean(logits[keep][:, : len(in_scope_labels)].argmax(-1) == y_true[keep])),
        "in_scope_rejection": rates["in_scope_rejection"],
        "criterion": calibration.report["rejection"]["criterion"],
        "balanced_threshold": balanced.threshold,  # the threshold maximising validation accuracy + recall
        "balanced_in_scope_accuracy": balanced_rates["in_scope_accuracy"],
        "balanced_oos_recall": balanced_rates["oos_recall"],
        # the threshold chosen without OOS validation rows, at 2% of in-scope validation rejected
        "no_oos_data_in_scope_accuracy": no_oos_data_rates["in_scope_accuracy"],
        "no_oos_data_oos_recall": no_oos_data_rates["oos_recall"],
        "oos_recall_by_source": per_source,
        "num_in_scope_test": rates["num_in_scope"],
        "num_oos_test": rates["num_oos"],
        "train_negatives": len(negatives.train),
        "validation_negatives": len(negatives.validation),
        "probes": {text: {"not_understood": r["not_understood"], "best_label": r["best_label"],
                          "confidence": round(r["confidence"], 4)} for text, r in probes.items()},  # fmt: skip
        "train_examples": len(train_texts),
        "train_seconds": train_seconds,
        "sequence_length": sequence_length,
        "recipe": choice.recipe.to_dict(),
        "machine": machine(),
    }
    print_result(result)


if __name__ == "__main__":
    app.run(main)
