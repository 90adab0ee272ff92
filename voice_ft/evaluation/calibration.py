"""Confidence calibration and rejection thresholds for classifiers, in numpy.

Why: a fine-tuned classifier's softmax is over-confident, so "confidence 0.9" does not mean right
9 times in 10, and a threshold on it rejects the wrong inputs. Temperature scaling (Guo et al.,
2017) divides the logits by one number T > 0, fitted on validation data to minimise the negative
log-likelihood; it keeps every argmax (accuracy is unchanged) and makes the probabilities honest.
On those calibrated probabilities a threshold says "I didn't understand".

Data contract for out-of-scope (OOS) examples: label id `OOS_LABEL_ID` (-1), which is what
`voice_ft.datasets.load(..., oos_label="oos")` gives the rows labelled "oos". They are not one of
the model's labels: temperature, NLL and ECE use the in-scope examples only; OOS examples only
help choose the threshold (an OOS example is "caught" when it is rejected).

Definitions:
- confidence: the largest probability of a row; correct: its argmax equals the label.
- ECE with B equal-width bins (b/B, (b+1)/B]: sum over bins of (n_b / N) |accuracy_b - confidence_b|.
- threshold from a target rate r (no OOS data): with the in-scope confidences sorted ascending
  c_0 <= ... <= c_{n-1} and k = floor(r n), the threshold is midway between c_{k-1} and c_k (0 when
  k = 0), so exactly k validation examples (the lowest r-quantile) fall below it when the
  confidences are distinct.
- threshold with OOS data: the one maximising in-scope accuracy (accepted and right, over all
  in-scope) + OOS recall (rejected, over all OOS), searched over the midpoints between distinct
  confidences; the lowest such threshold on ties. With a target OOS recall r (default 0.95), it is
  then lowered to the candidate of highest in-scope accuracy whose validation OOS recall is still
  >= r (the highest such candidate on ties: no recall is given up for nothing): when the
  out-of-scope inputs are easy to tell apart (an explicit OOS class catches most of them), the
  balanced threshold buys validation recall that does not carry over to new OOS inputs at the
  price of in-scope inputs rejected (SNIPS, bench/oos.py); when they are hard, the balanced one
  is already the lower.
An input is rejected when its confidence is strictly below the threshold.

Two extensions (the rule itself lives in `voice_ft.runtime.rejection`, shared with the phone):
- score: besides the max softmax probability, the logit energy T * logsumexp(logits / T) and, for a
  text classifier given its training split, minus the Mahalanobis distance of the sentence embedding
  to the nearest class (`voice_ft.evaluation.distance_score`). With OOS validation examples
  and `score="auto"`, the one with the largest AUROC (in-scope vs OOS) is used, in that order on
  ties; its threshold is chosen the same way (over midpoints of its values).
- an explicit out-of-scope class (`oos_class`, a model output trained on negatives): an input it
  wins is rejected whatever its score, and the scores are taken over the other classes. Validation
  rows for it are still labelled `OOS_LABEL_ID`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from voice_ft.data.labels import OOS_LABEL_ID
from voice_ft.evaluation.metrics import auroc
from voice_ft.runtime.probabilities import calibrated_softmax
from voice_ft.runtime.rejection import DISTANCE_SCORE, LOGIT_SCORES, SCORES, Rejection, rejection_scores

DEFAULT_BINS = 15
DEFAULT_REJECTION_RATE = 0.02
DEFAULT_OOS_RECALL = 0.95
_GOLDEN = (math.sqrt(5) - 1) / 2


def _in_scope(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels).astype(np.int64)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"need logits [n, classes] and labels [n]; got {logits.shape} and {labels.shape}")
    keep = labels >= 0
    if not keep.any():
        raise ValueError("no in-scope examples (every label is out-of-scope)")
    if labels.max() >= logits.shape[1]:
        raise ValueError(f"label id {labels.max()} is not below the {logits.shape[1]} classes")
    return logits[keep], labels[keep]


def negative_log_likelihood(logits, labels, temperature: float = 1.0) -> float:
    """Mean -log softmax(logits / T)[label] over the in-scope examples."""
    logits, labels = _in_scope(logits, labels)
    z = logits / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def fit_temperature(logits, labels, low: float = 0.01, high: float = 100.0, tolerance: float = 1e-5) -> float:
    """The T in [low, high] minimising the validation NLL, by golden-section search on log T.

    The NLL is convex in 1/T, so it has a single minimum along log T and golden-section finds it
    without gradients (and without scipy).
    """
    logits, labels = _in_scope(logits, labels)

    def nll(log_t: float) -> float:
        return negative_log_likelihood(logits, labels, math.exp(log_t))

    a, b = math.log(low), math.log(high)
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = nll(d)
    return float(math.exp((a + b) / 2))


def reliability_bins(probs, labels, bins: int = DEFAULT_BINS) -> dict:
    """Per equal-width confidence bin (lo, hi]: example count, mean confidence, accuracy (0 when empty)."""
    probs, labels = _in_scope(probs, labels)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    conf_sum = np.bincount(index, weights=confidence, minlength=bins)
    right = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    safe = np.maximum(count, 1)
    return {
        "lower": (np.arange(bins) / bins).tolist(),
        "upper": (np.arange(1, bins + 1) / bins).tolist(),
        "count": count.tolist(),
        "confidence": (conf_sum / safe).tolist(),
        "accuracy": (right / safe).tolist(),
    }


def expected_calibration_error(probs, labels, bins: int = DEFAULT_BINS) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width confidence bins."""
    table = reliability_bins(probs, labels, bins)
    count = np.asarray(table["count"], np.float64)
    gap = np.abs(np.asarray(table["accuracy"]) - np.asarray(table["confidence"]))
    return float((count * gap).sum() / count.sum())


def _midpoints(values: np.ndarray) -> np.ndarray:
    distinct = np.unique(values)
    return (distinct[:-1] + distinct[1:]) / 2


def threshold_for_rejection_rate(confidence, rate: float = DEFAULT_REJECTION_RATE) -> float:
    """The threshold below which the lowest `rate` fraction of (in-scope) confidences fall."""
    confidence = np.sort(np.asarray(confidence, np.float64))
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"rejection rate must be in [0, 1), got {rate}")
    if confidence.size == 0:
        raise ValueError("no confidences to choose a threshold on")
    k = math.floor(rate * confidence.size + 1e-9)
    return 0.0 if k == 0 else float((confidence[k - 1] + confidence[k]) / 2)


EDGE_MARGIN = 1e-4


def threshold_for_oos(in_confidence, in_correct, oos_confidence, probability: bool = True,
                      target_recall: float | None = None) -> float:
    """The threshold maximising in-scope accuracy + OOS recall (lowest on ties), lowered to the
    lowest one that keeps the OOS recall >= `target_recall` if given; see the module doc.

    `probability=False` for scores that are not probabilities (energy): the candidates then run
    from just below the lowest score to just above the highest instead of from 0 to 1.
    """
    if target_recall is not None and not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target OOS recall must be in (0, 1], got {target_recall}")
    in_confidence = np.asarray(in_confidence, np.float64)
    right = np.sort(in_confidence[np.asarray(in_correct, bool)])
    oos = np.sort(np.asarray(oos_confidence, np.float64))
    everything = np.concatenate([in_confidence, oos])
    top, bottom = float(everything.max()), float(everything.min())
    # The reject-all / accept-all ends sit a clear margin beyond the scores, not one ulp: the .tflite's
    # scores differ from Keras's by ~1e-6, and an end at the top score would flip the top example there.
    margin = EDGE_MARGIN * max(1.0, abs(top), abs(bottom))
    if probability:
        low, high = 0.0, min(1.0, top + margin)
    else:
        low, high = bottom - margin, top + margin
    candidates = np.concatenate([[low], _midpoints(everything), [high]])
    if probability:
        # Scores below 0 (calibrate_logits puts rows an OOS class wins below every other) give midpoints
        # below 0, which reject no more than 0 does; a probability threshold must lie in [0, 1] (the
        # runtimes refuse others).
        candidates = np.clip(candidates, 0.0, 1.0)  # not (low, high): high < 0 when every score is (all rows won)
    accuracy = (right.size - np.searchsorted(right, candidates, side="left")) / in_confidence.size
    recall = np.searchsorted(oos, candidates, side="left") / oos.size
    balanced = int(np.argmax(accuracy + recall))
    if target_recall is None:
        return float(candidates[balanced])
    # Below the balanced cut, keeping recall >= target: the most in-scope accuracy, then the most recall.
    eligible = np.flatnonzero(recall[: balanced + 1] >= target_recall - 1e-12)
    if eligible.size == 0:
        return float(candidates[balanced])
    best = eligible[accuracy[eligible] >= accuracy[eligible].max() - 1e-12]
    return float(candidates[best[-1]])


def rejection_rates(probs, labels, threshold: float) -> dict:
    """In-scope accuracy (accepted and right), in-scope rejection and OOS recall at `threshold`."""
    probs = np.asarray(probs, np.float64)
    return decision_rates(probs.argmax(axis=1), probs.max(axis=1) < threshold, labels)


def decision_rates(best, rejected, labels) -> dict:
    """In-scope accuracy (accepted and right), in-scope rejection, OOS recall and OOS precision.

    OOS precision: the fraction of rejected inputs that are out of scope (None when nothing is
    rejected or there are no OOS examples).
    """
    best, accepted = np.asarray(best), ~np.asarray(rejected, bool)
    labels = np.asarray(labels).astype(np.int64)
    in_scope, oos = labels >= 0, labels == OOS_LABEL_ID
    right = accepted & (best == labels) & in_scope
    caught = (~accepted & oos).sum()
    return {
        "in_scope_accuracy": float(right.sum() / max(in_scope.sum(), 1)),
        "in_scope_rejection": float((~accepted & in_scope).sum() / max(in_scope.sum(), 1)),
        "oos_recall": float(caught / oos.sum()) if oos.any() else None,
        "oos_precision": float(caught / (~accepted).sum()) if oos.any() and (~accepted).any() else None,
        "num_in_scope": int(in_scope.sum()),
        "num_oos": int(oos.sum()),
    }


@dataclasses.dataclass
class Calibration:
    """A fitted temperature, the calibration it buys, and (optionally) a rejection threshold.

    `report` holds everything measured on the validation data (NLL and ECE before and after,
    reliability tables, rejection rates); `sidecar_fields()` is what the exported sidecar stores.
    """

    temperature: float
    ece_before: float
    ece_after: float
    threshold: float | None
    report: dict
    bins: int = DEFAULT_BINS
    score: str = "max_softmax"
    oos_index: int | None = None
    # the class Gaussians of the "mahalanobis" score (`voice_ft.evaluation.mahalanobis.ClassGaussians`),
    # which the exporter builds into the graph; set by `voice_ft.calibrate` when it fitted them
    gaussians: object | None = None

    @property
    def rejection(self) -> Rejection | None:
        """The rule the phone applies (None: no threshold and no out-of-scope class)."""
        if self.threshold is None and self.oos_index is None:
            return None
        return Rejection(self.threshold, self.score, self.oos_index)

    def decide(self, logits, distance_score=None):
        """(best in-scope index, rejected) per row, as `voice_ft.runtime` decides them
        (`distance_score`: the model's "mahalanobis" output, for that score)."""
        rule = self.rejection or Rejection(None)
        _, best, _, rejected = rule.decide(logits, self.temperature, distance_score)
        return best, rejected

    def sidecar_fields(self) -> dict:
        fields = {"calibration": {"temperature": self.temperature, "ece_before": self.ece_before,
                                  "ece_after": self.ece_after, "bins": self.bins}}  # fmt: skip
        if self.rejection is not None:
            fields["rejection"] = self.report["rejection"]
        return fields

    def summary(self) -> str:
        """One line for a trainer's report: temperature, ECE before -> after, the threshold and its rates."""
        line = f"Calibration: T = {self.temperature:.3f}, validation ECE {self.ece_before:.4f} -> {self.ece_after:.4f}"
        if self.threshold is not None:
            rates = self.report["rejection"]["validation"]
            line += (f"; rejection threshold {self.threshold:.4f} on {self.score} "
                     f"(validation in-scope rejection {rates['in_scope_rejection']:.4f}")  # fmt: skip
            line += f", OOS recall {rates['oos_recall']:.4f})" if rates["oos_recall"] is not None else ")"
        return line

    def probabilities(self, logits) -> np.ndarray:
        """softmax(logits / temperature): what the phone runtime computes."""
        return calibrated_softmax(logits, self.temperature)


def calibrate_logits(logits, labels, bins: int = DEFAULT_BINS,
                     target_in_scope_rejection: float | None = DEFAULT_REJECTION_RATE,
                     score: str = "auto", oos_class: int | None = None, oos_label: str | None = None,
                     target_oos_recall: float | None = DEFAULT_OOS_RECALL, distance_score=None) -> Calibration:
    """Fits the temperature on validation logits and chooses the rejection rule.

    Args:
        logits: float[n, classes] validation logits.
        labels: int[n] label ids; `OOS_LABEL_ID` (-1) marks out-of-scope examples.
        bins: equal-width bins for ECE and the reliability diagram.
        target_in_scope_rejection: fraction of in-scope validation examples to reject when there
            are no OOS examples; None for no rejection threshold at all (an `oos_class` still rejects).
        score: "max_softmax", "energy", "mahalanobis" (needs `distance_score`) or "auto" (the best
            AUROC on OOS validation examples among those available; the max softmax without them).
        oos_class: the output index of an explicit out-of-scope class, if the model has one.
        oos_label: its name (written to the sidecar as `rejection.oos_label`).
        target_oos_recall: with OOS examples, the validation OOS recall the threshold is lowered to
            (keeping more in-scope inputs); None for the balanced threshold (max accuracy + recall).
        distance_score: float[n], the "mahalanobis" score of the same validation rows
            (`ClassGaussians.score` of their sentence embeddings), to be compared and chosen too.
    """
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels).astype(np.int64)
    if np.any((labels < 0) & (labels != OOS_LABEL_ID)):
        raise ValueError(f"negative label ids other than OOS_LABEL_ID={OOS_LABEL_ID}")
    if score not in (*SCORES, "auto"):
        raise ValueError(f"score must be one of {[*SCORES, 'auto']}, got {score!r}")
    if score == DISTANCE_SCORE and distance_score is None:
        raise ValueError("score='mahalanobis' needs the validation rows' distance_score")
    if distance_score is not None and np.shape(distance_score) != (len(labels),):
        raise ValueError(f"distance_score must hold one score per row ({len(labels)}), got shape {np.shape(distance_score)}")
    if oos_class is not None and not 0 <= oos_class < logits.shape[1]:
        raise ValueError(f"oos_class {oos_class} is not one of the {logits.shape[1]} outputs")
    if oos_class is not None and oos_label is None:
        raise ValueError("oos_class needs its oos_label (the name the sidecar records)")
    temperature = fit_temperature(logits, labels)
    before, after = calibrated_softmax(logits, 1.0), calibrated_softmax(logits, temperature)
    report = {
        "temperature": temperature,
        "bins": bins,
        "nll_before": negative_log_likelihood(logits, labels, 1.0),
        "nll_after": negative_log_likelihood(logits, labels, temperature),
        "ece_before": expected_calibration_error(before, labels, bins),
        "ece_after": expected_calibration_error(after, labels, bins),
        "reliability_before": reliability_bins(before, labels, bins),
        "reliability_after": reliability_bins(after, labels, bins),
    }
    in_scope, oos = labels >= 0, labels == OOS_LABEL_ID
    values = {}
    for name in (*LOGIT_SCORES, *((DISTANCE_SCORE,) if distance_score is not None else ())):
        _, best, value, oos_wins = rejection_scores(logits, temperature, name, oos_class, distance_score)
        if oos_wins.any():  # rejected whatever the threshold: below every other score
            value = np.where(oos_wins, value[~oos_wins].min() - 1.0 if (~oos_wins).any() else -1.0, value)
        values[name] = (best, value)
    aurocs = {name: auroc(v[in_scope], v[oos]) for name, (_, v) in values.items()} if oos.any() else {}
    chosen = score if score != "auto" else (max(aurocs, key=aurocs.get) if aurocs else "max_softmax")  # first on ties
    best, value = values[chosen]
    threshold = None
    if target_in_scope_rejection is not None:
        if oos.any():
            threshold = threshold_for_oos(value[in_scope], best[in_scope] == labels[in_scope], value[oos],
                                          probability=chosen == "max_softmax", target_recall=target_oos_recall)  # fmt: skip
            criterion = "max in_scope_accuracy + oos_recall"
            if target_oos_recall is not None:
                criterion += f", lowered to oos_recall >= {target_oos_recall:g}"
        else:
            threshold = threshold_for_rejection_rate(value[in_scope], target_in_scope_rejection)
            criterion = "target_in_scope_rejection"
    else:
        criterion = "oos_label only"
    rule = Rejection(threshold, chosen, oos_class)
    if threshold is not None or oos_class is not None:
        _, rule_best, _, rejected = rule.decide(logits, temperature, distance_score)
        report["rejection"] = {
            "method": "threshold", "threshold": threshold, "score": chosen, "criterion": criterion,
            "target_in_scope_rejection": None if target_in_scope_rejection is None else float(target_in_scope_rejection),
            **({"target_oos_recall": float(target_oos_recall)} if oos.any() and target_oos_recall is not None else {}),
            **({"oos_label": oos_label} if oos_class is not None and oos_label is not None else {}),
            **({"auroc": aurocs} if aurocs else {}),
            "validation": decision_rates(rule_best, rejected, labels),
        }  # fmt: skip
    return Calibration(temperature, report["ece_before"], report["ece_after"], threshold, report, bins, chosen, oos_class)
