"""`AudioClassifier` runs an exported waveform-in model from a WAV path or an array, without TensorFlow."""

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import soundfile

from voice_ft.runtime.audio_io import read_audio
from voice_ft.speech_commands.export import export_audio_classifier
from voice_ft.speech_commands.model import build_speech_command_classifier

REPO = pathlib.Path(__file__).resolve().parents[2]
FSDD_CLIP = REPO / "data" / "fsdd" / "7" / "7_yweweler_3.wav"


def test_runtime_without_tensorflow_matches_keras(tmp_path):
    keras.utils.set_random_seed(0)
    model = build_speech_command_classifier(4, filters=8, num_blocks=1, upper_edge_hertz=4000)
    export_audio_classifier(model, tmp_path / "m.tflite", "float32", labels=["a", "b", "c", "d"])
    stereo_44k = tmp_path / "stereo.wav"
    t = np.arange(22050) / 44100
    soundfile.write(stereo_44k, np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2, axis=1), 44100)

    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        from voice_ft.runtime import AudioClassifier
        classifier = AudioClassifier({str(tmp_path / "m.tflite")!r})
        native = np.asarray(__import__("soundfile").read({str(FSDD_CLIP)!r}, dtype="int16")[0])
        out = {{
            "path": classifier.logits([{str(FSDD_CLIP)!r}]).tolist(),
            "array_8k_int16": classifier.logits([native], sample_rate=8000).tolist(),
            "stereo": classifier({str(stereo_44k)!r}),
            "tf_loaded": "tensorflow" in sys.modules or "keras" in sys.modules,
        }}
        print(json.dumps(out))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["tf_loaded"] is False
    expected = model(read_audio(FSDD_CLIP, 16000, 16000)[None]).numpy()
    np.testing.assert_allclose(out["path"], expected, atol=1e-4)
    np.testing.assert_allclose(out["array_8k_int16"], expected, atol=1e-3)
    assert out["stereo"]["label"] in "abcd" and abs(sum(out["stereo"]["scores"].values()) - 1) < 1e-5


def test_rejection_written_by_the_exporter_and_applied(tmp_path):
    """`export_audio_classifier(calibration=)` ships T, a threshold and an out-of-scope label."""
    from voice_ft.evaluation.calibration import Calibration
    from voice_ft.runtime import AudioClassifier

    keras.utils.set_random_seed(0)
    model = build_speech_command_classifier(4, filters=8, num_blocks=1, upper_edge_hertz=4000)
    labels = ["a", "b", "c", "_unknown_"]
    export_audio_classifier(model, tmp_path / "plain.tflite", "float32", labels=labels)
    rng = np.random.default_rng(0)
    clips = [read_audio(FSDD_CLIP, 16000, 16000)] + [0.3 * rng.standard_normal(16000).astype(np.float32) * (i + 1) / 8
                                                      for i in range(7)]  # fmt: skip
    logits = AudioClassifier(tmp_path / "plain.tflite").logits(clips).astype(np.float64)
    z = logits / 1.5
    probs = np.exp(z - z.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    best = probs[:, :3].argmax(1)
    value = probs[np.arange(len(clips)), best]
    threshold = float(np.median(value))
    block = {"method": "threshold", "threshold": threshold, "score": "max_softmax", "oos_label": "_unknown_"}
    export_audio_classifier(model, tmp_path / "cal.tflite", "float32", labels=labels,
                            calibration=Calibration(1.5, 0.1, 0.05, threshold, {"rejection": block}, oos_index=3))  # fmt: skip
    assert json.loads((tmp_path / "cal.json").read_text())["rejection"] == block
    results = AudioClassifier(tmp_path / "cal.tflite").predict_batch(clips)
    for result, row, b, v in zip(results, probs, best, value):
        rejected = bool(row.argmax() == 3 or v < threshold)
        assert result["best_label"] == labels[b] and result["not_understood"] is rejected
        assert result["label"] == (None if rejected else labels[b])
        assert result["confidence"] == pytest.approx(v, abs=1e-5)
        np.testing.assert_allclose([result["scores"][n] for n in labels], row, atol=1e-5)
    assert 4 <= sum(r["not_understood"] for r in results) < len(clips)
