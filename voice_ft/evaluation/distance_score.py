"""The Mahalanobis out-of-scope score of a text classifier: fitted on its training split, shipped in its export.

Core (evaluation) rather than `text_classification`, since `voice_ft.calibrate` fits it.

Why: on SNIPS with no out-of-scope class (issue 14's 2a, `bench/oos.py --method=threshold`) the
distance of the sentence embedding to the nearest intent separates out-of-scope sentences better
than the logit scores (test AUROC 0.997 against 0.989 for the energy), since a sentence unlike every
intent can still land far on one side of the linear head. `voice_ft.calibrate(..., train=...)`
fits the class Gaussians (`voice_ft.evaluation.mahalanobis.ClassGaussians`) on the training
embeddings and lets validation choose this score beside the max softmax and the energy; the
exporter then adds the score to the graph (`with_distance_score`) as a second output,
"mahalanobis", which `voice_ft.runtime.TextClassifier` reads when its sidecar rule names it.

The sentence embedding is the classification head's input (after pooling, before dropout).
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from voice_ft.data.text_pipeline import encode_dataset, is_raw_text
from voice_ft.evaluation.inference import inference_function
from voice_ft.evaluation.mahalanobis import ClassGaussians
from voice_ft.layers.mahalanobis import MahalanobisScore

# The layer whose input is a text classifier's pooled sentence embedding: the dropout before the head,
# named so by `voice_ft.text_classification.model.build_text_classifier` (a name, not an import: the core
# does not import task packages).
EMBEDDING_LAYER = "classifier_dropout"
SCORE_OUTPUT = "mahalanobis"


def has_sentence_embedding(model: keras.Model) -> bool:
    """Whether `model` is a voice_ft text classifier whose sentence embedding this module can read."""
    return EMBEDDING_LAYER in [layer.name for layer in model.layers] and hasattr(model, "text_encoder")


def _embedding(model: keras.Model):
    if not has_sentence_embedding(model):
        raise ValueError(f"model {model.name!r} is not a voice_ft text classifier (no {EMBEDDING_LAYER!r} layer "
                         "and text_encoder): the Mahalanobis score needs its sentence embedding")  # fmt: skip
    return model.get_layer(EMBEDDING_LAYER).input


# classifier -> a model of its (logits, sentence embedding); weak keys as `_scored_models` below.
_with_embedding: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def logits_and_embeddings(model: keras.Model, dataset: tf.data.Dataset, batch_size: int = 64):
    """(label ids [n], logits [n, classes], sentence embeddings [n, dim]) over `(text, label)` data, one pass."""
    both = _with_embedding.get(model)
    if both is None:  # one per classifier, so its traced forward pass (`inference_function`) is reused
        both = _with_embedding[model] = keras.Model(model.inputs, [model.output, _embedding(model)])
    predict = inference_function(both)
    if is_raw_text(dataset):
        dataset = encode_dataset(dataset, model.text_encoder, batch_size=batch_size, cache=False, report_truncation=False)
    labels, logits, embeddings = [], [], []
    for x, y, *_ in dataset:
        out = predict(x)
        logits.append(np.asarray(out[0], np.float32))
        embeddings.append(np.asarray(out[1], np.float32))
        labels.append(np.asarray(y))
    return np.concatenate(labels), np.concatenate(logits), np.concatenate(embeddings)


def fit_class_gaussians(model: keras.Model, train: tf.data.Dataset, oos_class: int | None = None) -> ClassGaussians:
    """Class Gaussians of the training embeddings of the in-scope classes. The rows of an explicit
    out-of-scope class are left out (it is "everything else", not a cluster): the score is the
    distance to the nearest in-scope intent, and the classes are renumbered without it."""
    labels, _, embeddings = logits_and_embeddings(model, train)
    labels = labels.astype(np.int64)
    if oos_class is not None:
        labels = np.where(labels == oos_class, -1, np.where(labels > oos_class, labels - 1, labels))
    return ClassGaussians.fit(embeddings, labels)


# classifier -> (gaussians, its scored model). A weak key: the scored model shares the classifier's layers but
# holds no reference to the classifier object, so an entry goes when the classifier does.
_scored_models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def with_distance_score(model: keras.Model, gaussians: ClassGaussians) -> keras.Model:
    """The classifier with a second output, `"mahalanobis"` [batch]: the score of `gaussians` on its
    sentence embedding. Its outputs are a dict, {"logits": ..., "mahalanobis": ...}.

    The same (model, gaussians object) pair gives the same scored model (it shares the classifier's layers, so
    it follows its weights): a trainer exporting several quantizations converts one model object, whose
    SavedModel `voice_ft.export.convert` writes once and reuses.
    """
    cached = _scored_models.get(model)
    if cached is not None and cached[0] is gaussians:
        return cached[1]
    score = MahalanobisScore(gaussians.whitening, gaussians.means, name=SCORE_OUTPUT)(_embedding(model))
    scored = keras.Model(model.inputs, {"logits": model.output, SCORE_OUTPUT: score}, name=model.name)
    scored.text_encoder = model.text_encoder
    _scored_models[model] = (gaussians, scored)
    return scored
