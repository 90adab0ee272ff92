"""Bad-input suite, export: where users point the exporters, and how they spell the options.

Covers `voice_ft.export_tflite` (text), `voice_ft.nlu.export.export_nlu_tflite`,
`voice_ft.speech_commands.export.export_audio_classifier` and
`voice_ft.export.companions.check_export_target`: a missing output directory is created; an existing
`.tflite`, sidecar or differing `vocab.txt`/`labels.txt` is refused unless `overwrite=True`, leaving
every existing file byte for byte as it was; a misspelt quantization (`"int-8"`) is a ValueError
naming the argument and the valid values, raised before any SavedModel export or conversion.
"""

import keras
import pytest

import voice_ft
from voice_ft.data.files import OutputExistsError
from voice_ft.export.companions import check_export_target

LABELS = ["Play", "Stop", "Ask"]


@pytest.fixture(scope="module")
def text_model(tiny_preset):
    from voice_ft.text_classification.model import build_intent_classifier

    keras.utils.set_random_seed(0)
    return build_intent_classifier(voice_ft.load_backbone(tiny_preset), len(LABELS), sequence_length=16)


@pytest.fixture(scope="module")
def nlu_model(tiny_preset):
    from voice_ft.nlu import model as nlu_model

    return nlu_model.build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), ["Play", "SetAlarm"], ["O", "B-time", "I-time"],
                                           sequence_length=16)  # fmt: skip


@pytest.fixture(scope="module")
def audio_model():
    from voice_ft.speech_commands.model import build_speech_command_classifier

    keras.utils.set_random_seed(0)
    return build_speech_command_classifier(3, filters=8, num_blocks=1, upper_edge_hertz=4000)


def export_text(model, path, **kwargs):
    return voice_ft.export_tflite(model, path, kwargs.pop("quantization", "float32"), labels=LABELS, **kwargs)


def export_nlu(model, path, **kwargs):
    from voice_ft.nlu.export import export_nlu_tflite

    return export_nlu_tflite(model, path, quantization=kwargs.pop("quantization", "float32"), **kwargs)


def export_audio(model, path, **kwargs):
    from voice_ft.speech_commands.export import export_audio_classifier

    return export_audio_classifier(model, path, kwargs.pop("quantization", "float32"), labels=["yes", "no", "stop"], **kwargs)


EXPORTERS = {"text": (export_text, "text_model"), "nlu": (export_nlu, "nlu_model"), "audio": (export_audio, "audio_model")}


@pytest.fixture(params=list(EXPORTERS))
def exporter(request):
    """(export function, model) for each exporter."""
    export, fixture = EXPORTERS[request.param]
    return export, request.getfixturevalue(fixture)


@pytest.fixture()
def no_conversion(monkeypatch):
    """Fails the test if a SavedModel export (the first step of every conversion) starts."""

    def refuse(*args, **kwargs):
        raise AssertionError("conversion started before the arguments were checked")

    monkeypatch.setattr(keras.Model, "export", refuse)


@pytest.mark.parametrize("which", ["text", "audio"])
def test_missing_output_directory_is_created(tmp_path, text_model, audio_model, which):
    path = tmp_path / "not" / "yet" / "there" / "model.tflite"
    if which == "text":
        export_text(text_model, path)
        assert sorted(p.name for p in path.parent.iterdir()) == ["labels.txt", "model.json", "model.tflite", "vocab.txt"]
        assert (path.parent / "labels.txt").read_text(encoding="utf-8") == "Play\nStop\nAsk\n"
    else:
        export_audio(audio_model, path)
        assert sorted(p.name for p in path.parent.iterdir()) == ["model.json", "model.tflite"]
    assert path.read_bytes()[4:8] == b"TFL3"


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("existing", ["model.tflite", "model.json"])
def test_existing_model_or_sidecar_is_refused_and_untouched(tmp_path, exporter, no_conversion, existing):
    export, model = exporter
    (tmp_path / existing).write_bytes(b"the user's own file \x00\xff")
    before = snapshot(tmp_path)
    with pytest.raises(OutputExistsError, match=rf"Refusing to overwrite existing output: {tmp_path / existing} "
                                                r"\(pass overwrite=True\)"):  # fmt: skip
        export(model, tmp_path / "model.tflite")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("companion", ["vocab.txt", "labels.txt"])
def test_differing_companion_file_is_refused_and_untouched(tmp_path, text_model, no_conversion, companion):
    (tmp_path / companion).write_text("someone else's list\n", encoding="utf-8")
    before = snapshot(tmp_path)
    with pytest.raises(OutputExistsError, match=rf"{companion}"):
        export_text(text_model, tmp_path / "model.tflite")
    assert snapshot(tmp_path) == before


def test_overwrite_replaces_the_old_files(tmp_path, text_model):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"old")
    (tmp_path / "labels.txt").write_text("Old\n", encoding="utf-8")
    export_text(text_model, path, overwrite=True)
    assert path.read_bytes()[4:8] == b"TFL3"
    assert (tmp_path / "labels.txt").read_text(encoding="utf-8") == "Play\nStop\nAsk\n"


@pytest.mark.parametrize("quantization", ["int-8", "INT8", "fp16", "float", "", None])
def test_misspelt_quantization_names_argument_and_values_before_converting(tmp_path, exporter, no_conversion, quantization):
    export, model = exporter
    with pytest.raises(ValueError, match=rf"quantization must be one of \('float32', 'float16', 'dynamic', 'int8'.*\), "
                                         rf"got {quantization!r}"):  # fmt: skip
        export(model, tmp_path / "model.tflite", quantization=quantization)
    assert list(tmp_path.iterdir()) == []


def test_audio_exporter_lists_auto_among_the_valid_values(tmp_path, audio_model, no_conversion):
    with pytest.raises(ValueError, match=r"'int8', 'auto'\), got 'automatic'"):
        export_audio(audio_model, tmp_path / "model.tflite", quantization="automatic")


@pytest.mark.parametrize("name", ["model.tfl", "model", "model.TFLITE", "model.tflite.bak"])
def test_path_must_end_in_tflite(tmp_path, name):
    with pytest.raises(ValueError, match=rf"Export path must end in \.tflite, got {tmp_path / name}"):
        check_export_target(tmp_path / name, overwrite=False)


def test_check_export_target_accepts_identical_companions(tmp_path):
    (tmp_path / "vocab.txt").write_text("a\nb\n", encoding="utf-8")
    assert check_export_target(tmp_path / "m.tflite", False, {tmp_path / "vocab.txt": "a\nb\n"}) == tmp_path / "m.tflite"
    with pytest.raises(OutputExistsError):
        check_export_target(tmp_path / "m.tflite", False, {tmp_path / "vocab.txt": "a\nc\n"})
