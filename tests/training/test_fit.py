"""fit() on real SNIPS rows with a tiny backbone: learning, freezing, LoRA, resume, class weights."""

import numpy as np
import pytest
import keras

import voice_ft
from voice_ft.data.labels import LabelVocabulary
from voice_ft.data.readers import TextExample
from voice_ft.data.text_pipeline import encode_dataset, examples_to_dataset


@pytest.fixture()
def snips_small(snips_rows):
    labels = LabelVocabulary.from_records(r["intent"] for r in snips_rows)
    examples = [TextExample(r["text"], r["intent"], "train.jsonl", i + 1) for i, r in enumerate(snips_rows)]
    return examples_to_dataset(examples[:320], labels), examples_to_dataset(examples[320:], labels), list(labels)


def weights_of(layer):
    return [np.array(w) for w in layer.weights]


def test_fit_learns_snips_intents(tiny_backbone, snips_small, tmp_path):
    train, validation, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=24)
    recipe = voice_ft.Recipe(epochs=5, learning_rate=3e-3, batch_size=16)
    history = voice_ft.fit(model, train, validation, recipe=recipe, run_dir=tmp_path, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    counts = np.bincount([int(y) for _, y in train.as_numpy_iterator()])
    majority = counts.max() / counts.sum()  # what always guessing the commonest intent scores
    assert voice_ft.evaluate(model, train, labels)["accuracy"] > 1.5 * majority
    assert (tmp_path / "checkpoints" / "best.weights.h5").exists()
    assert (tmp_path / "history.csv").read_text().count("\n") == 6
    assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))


def test_build_optimizer_now_creates_the_slots_once(tiny_backbone):
    from voice_ft.training.fitting import build_optimizer_now

    model = voice_ft.build_intent_classifier(tiny_backbone, 3, sequence_length=16)
    model.compile(keras.optimizers.AdamW(1e-3), "sparse_categorical_crossentropy")
    build_optimizer_now(model)
    slots = [id(v) for v in model.optimizer.variables]
    assert model.optimizer.built and len(model.optimizer._momentums) == len(model.trainable_variables)
    build_optimizer_now(model)
    assert [id(v) for v in model.optimizer.variables] == slots


def test_freeze_layers_keeps_bottom_layers_fixed(tiny_backbone, snips_small):
    train, _, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    backbone = model.get_layer("bert_backbone")
    before_bottom = weights_of(backbone.transformer_layers[0])
    before_top = weights_of(backbone.transformer_layers[1])
    voice_ft.fit(model, train, recipe=voice_ft.Recipe(epochs=1, freeze_layers=1, learning_rate=1e-3), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before_bottom, weights_of(backbone.transformer_layers[0])))
    assert not all(np.array_equal(a, b) for a, b in zip(before_top, weights_of(backbone.transformer_layers[1])))


def test_freeze_embeddings_keeps_only_the_word_table_fixed(tiny_backbone, snips_small):
    train, _, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    backbone = model.get_layer("bert_backbone")
    words, positions = weights_of(backbone.token_embedding), weights_of(backbone.position_embedding)
    voice_ft.fit(model, train, recipe=voice_ft.Recipe(epochs=1, freeze_embeddings=True, learning_rate=1e-3), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(words, weights_of(backbone.token_embedding)))
    assert not all(np.array_equal(a, b) for a, b in zip(positions, weights_of(backbone.position_embedding)))
    assert not any(w.path.startswith("token_embedding/") for w in model.trainable_weights)


def test_freeze_embeddings_needs_a_token_embedding():
    from voice_ft.training.freezing import apply_trainability

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="keras-hub backbone"):
        apply_trainability(model, freeze_embeddings=True)


def test_lora_trains_only_adapters_and_head(tiny_backbone, snips_small):
    train, _, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    full = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    voice_ft.fit(model, train.take(32), recipe=voice_ft.Recipe(epochs=1, lora_rank=2), verbose=0)
    trainable = [w.path for w in model.trainable_weights]
    assert any("lora_kernel_a" in p for p in trainable) and any(p.startswith("logits/") for p in trainable)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) < 0.2 * full


class _InterruptAfterSecondEpoch(keras.callbacks.Callback):
    """Stops a run as Ctrl-C would, after epoch 1's callbacks (backup included) have run."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            self.kernel_at_interrupt = np.array(self.model.get_layer("logits").kernel)
            raise KeyboardInterrupt


def test_balanced_class_weights_and_missing_class(tiny_backbone, snips_small):
    from voice_ft.training.fitting import _class_weight

    train, _, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    weights = _class_weight("balanced", train, model)
    counts = np.bincount([int(y) for _, y in train.as_numpy_iterator()], minlength=len(labels))
    assert weights[int(counts.argmin())] == max(weights.values())
    assert sum(weights[i] * counts[i] for i in range(len(labels))) == pytest.approx(counts.sum())
    with pytest.raises(ValueError, match="never occur"):
        _class_weight("balanced", train.filter(lambda t, y: y != 0), model)


def test_mixed_precision_must_be_set_before_building(tiny_backbone, snips_small):
    train, _, labels = snips_small
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    with pytest.raises(ValueError, match="use_mixed_precision"):
        voice_ft.fit(model, train, recipe=voice_ft.Recipe(mixed_precision=True), verbose=0)


def test_mixed_precision_training_runs(tiny_preset, snips_small):
    train, _, labels = snips_small
    assert voice_ft.use_mixed_precision(True) == "mixed_bfloat16"
    try:  # the backbone too is built under the policy
        model = voice_ft.build_intent_classifier(voice_ft.load_backbone(str(tiny_preset)), len(labels), sequence_length=16)
        history = voice_ft.fit(model, train.take(64), recipe=voice_ft.Recipe(epochs=1, mixed_precision=True), verbose=0)
        assert np.isfinite(history.history["loss"][0])
        assert model.get_layer("logits").compute_dtype == "float32"
    finally:
        voice_ft.use_mixed_precision(False)


class _StepWeights(keras.callbacks.Callback):
    """Records the logits layer's kernel after every optimizer step (the raw, un-averaged weights)."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(np.array(self.model.get_layer("logits").kernel))


class _KernelAtStart(keras.callbacks.Callback):
    """The logits kernel and its moving average once `fit` has restored a backup."""

    def on_train_begin(self, logs=None):
        kernel = self.model.get_layer("logits").kernel
        optimizer = self.model.optimizer
        index = [v.path for v in optimizer._trainable_variables].index(kernel.path)
        self.kernel = np.array(kernel)
        self.average = np.array(optimizer._model_variables_moving_average[index])


def test_interrupted_run_resumes_from_its_backup_and_ends_with_the_moving_average(tiny_backbone, snips_small, tmp_path):
    """One run, stopped after epoch 1 as Ctrl-C would and started again: the backup restores the raw
    weights and their moving average, no finished epoch is trained again, and the run ends with the
    average of every step of both parts (the one validation scored)."""
    train, validation, labels = snips_small
    momentum = 0.9
    recipe = voice_ft.Recipe(epochs=4, learning_rate=3e-3, batch_size=32, ema_momentum=momentum)
    first, interrupt = _StepWeights(), _InterruptAfterSecondEpoch()
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    with pytest.raises(KeyboardInterrupt):
        voice_ft.fit(model, train, validation, recipe=recipe, run_dir=tmp_path, callbacks=[first, interrupt], verbose=0)
    assert (tmp_path / "backup").exists()

    start, second = _KernelAtStart(), _StepWeights()
    resumed = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    history = voice_ft.fit(resumed, train, validation, recipe=recipe, run_dir=tmp_path, callbacks=[start, second], verbose=0)
    assert history.epoch == [2, 3]  # epochs 0 and 1 were restored, not re-run
    assert not (tmp_path / "backup").exists()  # a finished run removes its backup
    np.testing.assert_allclose(start.kernel, first.steps[-1], atol=1e-6)  # the last raw step, not the average
    np.testing.assert_allclose(start.average, interrupt.kernel_at_interrupt, atol=1e-6)  # the average it had
    assert not np.allclose(start.kernel, start.average, atol=1e-5)
    # (atol: Keras swaps the two in place by adding and subtracting, which costs a few float32 ulps)

    steps = first.steps + second.steps
    assert len(steps) == 4 * 10  # 320 rows / 32 per epoch, four epochs, each once
    expected = steps[0]  # Keras starts the average at the first step's weights
    for step in steps[1:]:
        expected = momentum * expected + (1 - momentum) * step
    final = np.array(resumed.get_layer("logits").kernel)
    np.testing.assert_allclose(final, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(final, steps[-1], atol=1e-5)  # the average, not the last step
    # Validation scored the averaged weights: re-evaluating the final model gives the last val_loss.
    encoded = encode_dataset(validation, resumed.text_encoder, batch_size=32, shuffle=False, report_truncation=False)
    val_loss = resumed.evaluate(encoded, verbose=0)[0]
    assert val_loss == pytest.approx(history.history["val_loss"][-1], rel=1e-4)


class _CountSteps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1


def test_fit_in_steps_repeats_the_data_validates_each_interval_and_traces_the_step_once(tiny_backbone, snips_small,
                                                                                         tmp_path):
    """Steps cross passes over the data, with a validation each interval. The optimizer is built before
    the first step, so TensorFlow traces the step once, not twice (Keras 3.15 builds it inside the first
    trace when no strategy is set, which makes a second one)."""
    train, validation, labels = snips_small  # 320 sentences: 20 batches of 16 a pass
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=24)
    traces = []
    train_step = model.train_step
    model.train_step = lambda data: (traces.append(1), train_step(data))[1]  # runs once per trace
    recipe = voice_ft.Recipe(steps=50, steps_per_validation=15, learning_rate=3e-3, batch_size=16, ema_momentum=0.9,
                             head_learning_rate_multiplier=10)  # the text classifiers' optimizer  # fmt: skip
    counter = _CountSteps()
    history = voice_ft.fit(model, train, validation, recipe=recipe, run_dir=tmp_path, callbacks=[counter], verbose=0)
    assert counter.steps == 60  # 50 rounded up to 4 whole intervals of 15, crossing 3 passes over the data
    assert len(history.history["val_loss"]) == 4
    assert int(model.optimizer.iterations) == 60
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert (tmp_path / "history.csv").read_text().count("\n") == 5
    assert len(traces) == 1
    assert all(np.any(m.numpy() != 0) for m in model.optimizer._momentums[-2:])  # the head's moments: trained


def test_fit_streams_text_shards(tiny_backbone, snips_small, tmp_path):
    """A shard pattern trains like raw text, read from the files each pass (nothing cached), with the
    steps an epoch known from the shards' spec (no counting pass)."""
    from voice_ft.data.tfrecords import write_text_shards

    train, validation, labels = snips_small
    write_text_shards(train.take(96), tmp_path / "shards", num_shards=3)
    write_text_shards(validation, tmp_path / "shards", num_shards=1, prefix="validation")
    model = voice_ft.build_intent_classifier(tiny_backbone, len(labels), sequence_length=16)
    history = voice_ft.fit(model, str(tmp_path / "shards" / "train-*.tfrecord"), str(tmp_path / "shards" / "validation-*"),
                           recipe=voice_ft.Recipe(epochs=2, batch_size=16, learning_rate=3e-3), verbose=0)  # fmt: skip
    assert model.optimizer.iterations.numpy() == 2 * 6  # 96 sentences / 16, twice
    assert len(history.history["val_loss"]) == 2 and history.history["loss"][1] < history.history["loss"][0]
    # class_weight="balanced" counts the labels of the shards as it counts those of raw text.
    from voice_ft.training.fitting import _class_weight

    pattern = str(tmp_path / "shards" / "train-*.tfrecord")
    assert _class_weight("balanced", pattern, model) == _class_weight("balanced", train.take(96), model)
