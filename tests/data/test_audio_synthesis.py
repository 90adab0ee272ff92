"""espeak-ng rendering into a voice-disjoint spoken dataset (skipped only where espeak-ng is absent)."""

import numpy as np
import pytest

from voice_ft.data import speech_synthesis
from voice_ft.runtime.audio_io import read_audio
from voice_ft.data.audio_readers import read_audio_manifest

pytestmark = pytest.mark.skipif(speech_synthesis.espeak_binary() is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")


def test_default_voices_are_installed():
    for voice in speech_synthesis.voices():
        speech_synthesis.check_voice(voice)


def test_voice_disjoint_split_holds_out_whole_accents():
    split = speech_synthesis.voice_disjoint_split(speech_synthesis.voices())
    assert len(split["train"]) + len(split["validation"]) + len(split["test"]) == 8 * 11
    accents = {name: {v.split("+")[0] for v in vs} for name, vs in split.items()}
    assert accents["test"] == {"en-gb-scotland", "en-029"}
    assert not accents["train"] & (accents["test"] | accents["validation"])


def test_synthesize_dataset_renders_readable_voice_disjoint_clips(tmp_path):
    splits = {
        "train": [speech_synthesis.Utterance("play some jazz", "PlayMusic"), speech_synthesis.Utterance("will it rain", "GetWeather")],
        "test": [speech_synthesis.Utterance("play the radio", "PlayMusic")],
    }
    voices = {"train": ["en-us+m1", "en-gb+f2"], "test": ["en-029+m3"]}
    manifest = speech_synthesis.synthesize_dataset(splits, tmp_path, voices, renditions={"train": 2})
    examples = read_audio_manifest(manifest)
    assert len(examples) == 5
    assert {e.speaker for e in examples if e.split == "train"} == {"en-us+m1", "en-gb+f2"}
    assert {e.speaker for e in examples if e.split == "test"} == {"en-029+m3"}
    samples = read_audio(examples[0].path, 16000)
    assert 0.3 < len(samples) / 16000 < 3.0 and np.abs(samples).max() > 0.05  # real speech, resampled from 22.05 kHz
    speech_synthesis.render("- good point", tmp_path / "dash.wav")  # spoken, not read as an espeak-ng option
    assert np.abs(read_audio(tmp_path / "dash.wav", 16000)).max() > 0.05
    with pytest.raises(ValueError, match="no voice/variant \\['no-such-voice'\\]"):
        speech_synthesis.render("hello", tmp_path / "x.wav", voice="no-such-voice")


def test_a_folder_rendered_before_reuses_only_the_clips_of_the_same_saying(tmp_path):
    voices = {"train": ["en-us+m1"]}
    say = lambda *texts: {"train": [speech_synthesis.Utterance(t, "x") for t in texts]}  # noqa: E731
    speech_synthesis.synthesize_dataset(say("play some jazz", "will it rain"), tmp_path, voices)
    first, second = tmp_path / "train" / "000000.wav", tmp_path / "train" / "000001.wav"
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in (first, second)}
    speech_synthesis.synthesize_dataset(say("play some jazz", "turn off the lights"), tmp_path, voices)
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before[first]  # the same saying: reused
    assert second.read_bytes() != before[second][1]  # another sentence at the same path: rendered again
    assert "turn off the lights" in (tmp_path / "manifest.csv").read_text()


def test_the_test_split_is_the_same_clips_whatever_the_training_split_holds(tmp_path):
    import csv

    def utterances(split, n):
        return [speech_synthesis.Utterance(f"{split} sentence number {i}", f"label{i % 2}") for i in range(n)]

    splits = {"train": utterances("train", 6), "test": utterances("test", 6)}
    voices = {"train": speech_synthesis.voices(["en-us", "en-gb"]), "test": speech_synthesis.voices(["en-029"])}

    def test_clips(run, **training):
        manifest = speech_synthesis.synthesize_text_splits(splits, tmp_path / run, split_voices=voices, seed=3, **training)
        with open(manifest, encoding="utf-8") as f:
            return [(r["text"], r["speaker"], r["speed"], r["pitch"]) for r in csv.DictReader(f) if r["split"] == "test"]

    few = test_clips("few", per_label={"train": 1, "test": 2}, renditions={"train": 1})
    many = test_clips("many", per_label={"train": 3, "test": 2}, renditions={"train": 3})
    assert len(few) == 4 and few == many  # more training sentences and voices: the same test sentences, voices, rates


def test_grammar_splits_render_with_transcripts_tags_and_slot_values(tmp_path):
    import csv
    import json
    import pathlib

    from voice_ft.data.grammar_sampling import from_grammar

    grammar = pathlib.Path(__file__).resolve().parents[2] / "data" / "grammars" / "timers.yml"
    train, validation, test, intents, tags = from_grammar(grammar, per_expression=2)
    with_slots = [e for e in train if e.slots]
    splits = {"train": with_slots[:2], "test": test[:1]}
    voices = {"train": ["en-us+m1", "en-gb+f2"], "test": ["en-029+m3"]}
    manifest = speech_synthesis.synthesize_text_splits(splits, tmp_path, split_voices=voices, renditions={"train": 2},
                                                       speeds=(140, 180), pitches=(35, 65))
    examples = read_audio_manifest(manifest)
    assert len(examples) == 5 and {e.label for e in examples} <= set(intents)
    assert {e.speaker for e in examples if e.split == "test"} == {"en-029+m3"}
    with open(manifest, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    first = with_slots[0]
    assert rows[0]["text"] == first.text and rows[0]["tags"].split() == list(first.tags)
    assert json.loads(rows[0]["slots"]) == first.slots
    assert len({(r["speaker"], r["speed"], r["pitch"]) for r in rows[:2]}) == 2  # two renditions, two voices
    samples = read_audio(examples[-1].path, 16000)
    assert 0.3 < len(samples) / 16000 < 6.0 and np.abs(samples).max() > 0.05
    with pytest.raises(speech_synthesis.DataError, match="expected a SlotExample or an Utterance"):
        speech_synthesis.synthesize_text_splits({"train": ["play jazz"]}, tmp_path, split_voices=voices)
