"""A keras-hub encoder inside a task model: the phone-side inputs and one vector per sentence.

Every text task (intent, sentiment, joint NLU, and later speech-to-intent's NLU half) feeds the
same two int32 inputs, `token_ids` and `padding_mask`, and summarises the encoder's output the way
the checkpoint was trained to; these helpers are that shared part.
"""

from __future__ import annotations

import keras


def encoder_inputs(sequence_length: int | None) -> dict[str, keras.KerasTensor]:
    """The two int32 inputs of every text model: `(batch, sequence_length)`, or any length for None.

    A model with length-free inputs trains on batches cut to their longest sentence (most
    commands are far shorter than the padded length, so most of a fixed-length batch is padding),
    and is exported with the fixed length a phone feeds (`text_input_signature`).
    """
    return {
        "token_ids": keras.Input(shape=(sequence_length,), dtype="int32", name="token_ids"),
        "padding_mask": keras.Input(shape=(sequence_length,), dtype="int32", name="padding_mask"),
    }


def text_input_signature(sequence_length: int) -> list[dict]:
    """The exported (serving) signature of a text model: both inputs fixed at `sequence_length`."""
    import tensorflow as tf

    return [{name: tf.TensorSpec((None, sequence_length), tf.int32, name=name) for name in ("token_ids", "padding_mask")}]


def backbone_outputs(backbone_model: keras.Model, inputs: dict) -> dict:
    """Calls a keras-hub encoder, supplying all-zero `segment_ids` when it takes them."""
    feed = dict(inputs)
    input_names = {t.name.split(":")[0] for t in backbone_model.inputs} if backbone_model.inputs else set()
    if "segment_ids" in input_names:
        feed["segment_ids"] = keras.ops.zeros_like(inputs["token_ids"])
    outputs = backbone_model(feed)
    if not isinstance(outputs, dict):
        outputs = {"sequence_output": outputs}
    return outputs


POOLINGS = ("auto", "pooled", "mean", "cls", "max")


def pooled_output(outputs: dict) -> keras.KerasTensor:
    """BERT's pooled output ([CLS] + dense + tanh), or the first token for encoders without one."""
    return sentence_embedding(outputs, None, "pooled")


def sentence_embedding(outputs: dict, padding_mask: keras.KerasTensor, pooling: str) -> keras.KerasTensor:
    """One vector per sentence from the encoder's outputs.

    "pooled": BERT's pooled output ([CLS] + dense + tanh; the first token where an encoder has
    no pooler); "cls": the first token; "mean" / "max": over the non-padding tokens.
    """
    sequence = outputs["sequence_output"]
    if pooling == "pooled":
        return outputs["pooled_output"] if "pooled_output" in outputs else sequence[:, 0, :]
    if pooling == "cls":
        return sequence[:, 0, :]
    mask = keras.ops.cast(padding_mask, "bool")
    if pooling == "mean":
        return keras.layers.GlobalAveragePooling1D(name="mean_pooling")(sequence, mask=mask)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling1D(name="max_pooling")(sequence, mask=mask)
    raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
