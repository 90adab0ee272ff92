"""Bad-input suite, runtime: what an app passes to `TextClassifier`, `NLUParser` and `AudioClassifier`.

Text: empty and blank strings, a 10,000-character text (truncated to the sequence length, keeping
the start), emoji, CJK, right-to-left, zero-width and control characters give a normal result; None,
bytes, numbers, lists and unpaired surrogates raise an error naming the argument (`InputTypeError`,
a `DataError` that is also a `TypeError`). Audio: float64, int16/int32/uint8 PCM, stereo in either
layout, other rates (with `sample_rate`) and very long arrays give the right model input; NaN/inf,
empty, None, bytes, bool/complex arrays, 3-D arrays, integer PCM stored as float and a bad
`sample_rate` raise a `DataError` naming what is wrong, for single clips and 2-D batches alike.

The models are tiny and untrained (exported once per module): these tests are about input handling.
"""

import numpy as np
import pytest
import soundfile

import voice_ft
from voice_ft.runtime.errors import DataError, InputTypeError

RATE = 16000


@pytest.fixture(scope="module")
def text_models(tiny_preset, tmp_path_factory):
    """(TextClassifier, NLUParser) over the tiny BERT, sequence length 16, float32."""
    import keras

    from voice_ft.nlu import model as nlu_model
    from voice_ft.nlu.export import export_nlu_tflite
    from voice_ft.runtime import NLUParser, TextClassifier
    from voice_ft.text_classification.model import build_intent_classifier

    keras.utils.set_random_seed(0)
    out = tmp_path_factory.mktemp("bad_runtime_text")
    classifier = build_intent_classifier(voice_ft.load_backbone(tiny_preset), 3, sequence_length=16)
    voice_ft.export_tflite(classifier, out / "intent" / "intent.tflite", "float32", labels=["Play", "Stop", "Ask"])
    joint = nlu_model.build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), ["Play", "SetAlarm"],
                                            ["O", "B-time", "I-time"], sequence_length=16)  # fmt: skip
    export_nlu_tflite(joint, out / "nlu" / "nlu.tflite", quantization="float32")
    return TextClassifier(out / "intent" / "intent.tflite"), NLUParser(out / "nlu" / "nlu.tflite")


@pytest.fixture(scope="module")
def audio_classifier(tmp_path_factory):
    import keras

    from voice_ft.runtime import AudioClassifier
    from voice_ft.speech_commands.export import export_audio_classifier
    from voice_ft.speech_commands.model import build_speech_command_classifier

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("bad_runtime_audio") / "commands.tflite"
    model = build_speech_command_classifier(3, filters=8, num_blocks=1, upper_edge_hertz=4000)
    export_audio_classifier(model, path, "float32", labels=["yes", "no", "stop"])
    return AudioClassifier(path)


def run(text_models, which, text):
    classifier, parser = text_models
    return classifier(text) if which == "classifier" else parser.parse(text)


def check_result(text_models, which, text, result):
    classifier, parser = text_models
    if which == "classifier":
        assert result["label"] in classifier.labels
        assert sum(result["scores"].values()) == pytest.approx(1.0) and np.isfinite(result["confidence"])
    else:
        assert result["intent"] in parser.intents and np.isfinite(result["confidence"])
        for slot in result["slots"]:
            assert text[slot["start"] : slot["end"]] == slot["value"] and slot["slot"] == "time"


MODELS = ["classifier", "nlu"]
LONG = "play some jazz " * 667  # 10,005 characters

ODD_TEXTS = {
    "empty": "",
    "blank": " \t \n ",
    "10000-chars": LONG,
    "emoji": "play 🎵🎶 now 👍🏽",
    "cjk": "播放一些爵士乐",
    "rtl": "שלום עולם مرحبا بالعالم",
    "zero-width": "play\u200bjazz\u200d",
    "control-chars": "play\x00jazz\x07\x1b",
    "combining": "cafe\u0301 re\u0301sume\u0301",
}


@pytest.mark.parametrize("which", MODELS)
@pytest.mark.parametrize("name", list(ODD_TEXTS))
def test_odd_but_valid_text_gives_a_normal_result(text_models, which, name):
    text = ODD_TEXTS[name]
    check_result(text_models, which, text, run(text_models, which, text))


@pytest.mark.parametrize("which", MODELS)
def test_batch_of_odd_texts_equals_one_at_a_time(text_models, which):
    classifier, parser = text_models
    texts = list(ODD_TEXTS.values())
    batch = classifier.predict_batch(texts) if which == "classifier" else parser.parse_batch(texts)
    single = [run(text_models, which, t) for t in texts]
    for b, s in zip(batch, single):
        key = "label" if which == "classifier" else "intent"
        assert b[key] == s[key] and b["confidence"] == pytest.approx(s["confidence"], abs=1e-5)


def test_long_text_is_truncated_keeping_its_start(text_models):
    classifier, _ = text_models
    start = " ".join(LONG.split()[:30])  # already longer than the 14 word pieces that fit
    assert classifier(LONG)["scores"] == pytest.approx(classifier(start)["scores"], abs=1e-6)
    assert classifier(LONG)["scores"] != pytest.approx(classifier("stop")["scores"], abs=1e-6)


BAD_TYPES = {
    "none": (None, r"text must be a str, got NoneType"),
    "bytes": (b"play jazz", r"text must be a str, got bytes \(decode it first"),
    "bytearray": (bytearray(b"play"), r"text must be a str, got bytearray"),
    "int": (42, r"text must be a str, got int"),
    "list": (["play", "jazz"], r"text must be a str, got list"),
}


@pytest.mark.parametrize("which", MODELS)
@pytest.mark.parametrize("name", list(BAD_TYPES))
def test_non_string_text_names_the_argument(text_models, which, name):
    value, message = BAD_TYPES[name]
    with pytest.raises(InputTypeError, match=message) as info:
        run(text_models, which, value)
    assert isinstance(info.value, TypeError) and isinstance(info.value, DataError)


@pytest.mark.parametrize("which", MODELS)
def test_bad_item_in_a_batch_is_named_by_index(text_models, which):
    classifier, parser = text_models
    predict = classifier.predict_batch if which == "classifier" else parser.parse_batch
    with pytest.raises(InputTypeError, match=r"texts\[2\] must be a str, got NoneType"):
        predict(["play", "stop", None])
    with pytest.raises(TypeError, match=r"texts must be a list of texts, got one str"):
        predict("play jazz")
    assert predict([]) == [] and predict(("play", "stop"))[1] == predict(["stop"])[0]


@pytest.mark.parametrize("which", MODELS)
def test_unpaired_surrogate_is_named(text_models, which):
    with pytest.raises(DataError, match=r"text is not valid Unicode: unpaired surrogate '\\ud83c' at character 5"):
        run(text_models, which, "play \ud83c jazz")


# --- audio ----------------------------------------------------------------------------------------


def tone(seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * 440 * np.arange(int(round(seconds * rate))) / rate)


REFERENCE = tone(1.0, RATE).astype(np.float32)

EQUIVALENT_ARRAYS = {  # name -> (array, sample_rate, tolerance against REFERENCE as model input)
    "float64": (tone(1.0, RATE), None, 1e-6),
    "int16": ((tone(1.0, RATE) * 32767).astype(np.int16), None, 1e-4),
    "int32": ((tone(1.0, RATE) * 2**31).astype(np.int32), None, 1e-6),
    "uint8-centred-on-128": (np.round(tone(1.0, RATE) * 127 + 128).astype(np.uint8), None, 1 / 128),
    "stereo-samples-by-channels": (np.stack([REFERENCE, REFERENCE], axis=1), None, 1e-6),
    "stereo-channels-by-samples": (np.stack([REFERENCE, REFERENCE], axis=0), None, 1e-6),
    "list-of-floats": (REFERENCE.tolist(), None, 1e-6),
    "8kHz-with-sample_rate": (tone(1.0, 8000), 8000, 2e-2),
    "44.1kHz-with-sample_rate": (tone(1.0, 44100), 44100, 2e-2),
    "sample_rate-as-float": (tone(1.0, 8000), 8000.0, 2e-2),
}


@pytest.mark.parametrize("name", list(EQUIVALENT_ARRAYS))
def test_other_dtypes_layouts_and_rates_give_the_same_model_input(audio_classifier, name):
    audio, rate, tolerance = EQUIVALENT_ARRAYS[name]
    clip = audio_classifier.waveform(audio, rate)
    assert clip.dtype == np.float32 and clip.shape == (RATE,)
    edge = 200 if rate else 0  # the resampler's filter rings at the very ends
    np.testing.assert_allclose(clip[edge : RATE - edge], REFERENCE[edge : RATE - edge], atol=tolerance)
    assert audio_classifier(audio, rate)["label"] in audio_classifier.labels


def test_ten_minute_array_is_trimmed_around_its_centre(audio_classifier):
    long = np.zeros(600 * RATE, np.float32)
    long[300 * RATE - RATE // 2 : 300 * RATE + RATE // 2] = REFERENCE
    np.testing.assert_array_equal(audio_classifier.waveform(long), REFERENCE)
    short = audio_classifier.waveform(REFERENCE[:4000])
    np.testing.assert_array_equal(short[6000:10000], REFERENCE[:4000])
    assert not short[:6000].any() and not short[10000:].any()


def test_wrong_rate_file_is_resampled(audio_classifier, tmp_path):
    path = tmp_path / "phone_8k.wav"
    soundfile.write(path, tone(1.0, 8000), 8000, subtype="FLOAT")
    np.testing.assert_allclose(audio_classifier.waveform(path)[200:-200], REFERENCE[200:-200], atol=2e-2)
    np.testing.assert_allclose(audio_classifier.logits([path]), audio_classifier.logits([REFERENCE]), atol=0.05)


BAD_AUDIO = {
    "nan": (np.full(RATE, np.nan, np.float32), None, DataError, r"audio array: 16000 NaN/inf samples"),
    "one-inf": (np.r_[REFERENCE[:-1], np.inf], None, DataError, r"1 NaN/inf samples"),
    "empty": (np.zeros(0, np.float32), None, DataError, r"audio too short: 0 samples"),
    "none": (None, None, InputTypeError, r"audio must be a file path or a numpy array of samples, got NoneType"),
    "bytes": (b"RIFF\x00\x00", None, InputTypeError, r"got bytes \(decode the bytes first"),
    "bool-array": (REFERENCE > 0, None, InputTypeError, r"integer PCM or float, got dtype bool"),
    "complex-array": (REFERENCE.astype(np.complex64), None, InputTypeError, r"got dtype complex64"),
    "scalar": (np.float32(0.5), None, DataError, r"shape \(samples,\) or \(samples, channels\).*got shape \(\)"),
    "3-d": (np.zeros((2, 2, RATE), np.float32), None, DataError, r"got shape \(2, 2, 16000\)"),
    "too-many-channels": (np.zeros((20, 20), np.float32), None, DataError, r"at most 8 channels, got shape \(20, 20\)"),
    "int16-values-as-float": ((REFERENCE * 32767).astype(np.float32), None, DataError, r"peaks at 16383\.5.*divide by 32768"),
    "sample_rate-zero": (REFERENCE, 0, DataError, r"sample_rate must be a positive whole number of Hz, got 0"),
    "sample_rate-negative": (REFERENCE, -16000, DataError, r"got -16000"),
    "sample_rate-fractional": (REFERENCE, 16000.5, DataError, r"got 16000\.5"),
    "sample_rate-string": (REFERENCE, "16000", DataError, r"got '16000'"),
}


@pytest.mark.parametrize("name", list(BAD_AUDIO))
def test_bad_audio_array_or_rate_is_refused_by_name(audio_classifier, name):
    audio, rate, error, message = BAD_AUDIO[name]
    with pytest.raises(error, match=message):
        audio_classifier(audio, rate)


def test_batches_get_the_same_checks_and_scaling(audio_classifier):
    float_batch = np.stack([REFERENCE, REFERENCE[::-1]])
    int_batch = (float_batch * 32767).astype(np.int16)
    np.testing.assert_allclose(audio_classifier.logits(int_batch), audio_classifier.logits(float_batch), atol=1e-3)
    eight_k = np.stack([tone(1.0, 8000)] * 2)
    np.testing.assert_allclose(audio_classifier.logits(eight_k, sample_rate=8000),
                               audio_classifier.logits(float_batch[:1].repeat(2, 0)), atol=0.05)  # fmt: skip
    with pytest.raises(DataError, match="NaN/inf"):
        audio_classifier.predict_batch(np.stack([REFERENCE, np.full(RATE, np.nan, np.float32)]))
    with pytest.raises(InputTypeError, match="clips must be a list of paths or arrays, got str"):
        audio_classifier.logits("clip.wav")


@pytest.mark.parametrize("kind", ["missing", "not-audio"])
def test_bad_audio_path_is_refused_by_name(audio_classifier, tmp_path, kind):
    path = tmp_path / "clip.wav"
    if kind == "not-audio":
        path.write_text("not audio at all", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path}: (audio file does not exist|unreadable audio)"):
        audio_classifier(path)
