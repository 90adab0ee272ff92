"""Google's speech_embedding rebuilt from ONNX: the Keras CNN matches onnxruntime."""

import numpy as np


def test_speech_embedding_cnn_matches_onnxruntime(onnx_dir):
    import onnxruntime as ort

    from voice_ft.backbones.speech_embedding import build_embedding_cnn_from_onnx

    cnn = build_embedding_cnn_from_onnx(onnx_dir / "embedding_model.onnx")
    assert cnn.count_params() == 328_128
    mel = np.random.default_rng(1).uniform(-1, 3, size=(4, 76, 32)).astype("float32")
    session = ort.InferenceSession(str(onnx_dir / "embedding_model.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"input_1": mel[..., None]})[0].reshape(4, 96)
    np.testing.assert_allclose(cnn(mel).numpy()[:, 0], expected, atol=2e-4, rtol=1e-4)
    # Fully convolutional in time: 97 frames give the three 76-frame windows at stride 8.
    long = np.random.default_rng(2).uniform(-1, 3, size=(1, 97, 32)).astype("float32")
    windows = np.stack([long[0, i * 8 : i * 8 + 76] for i in range(3)])[..., None]
    np.testing.assert_allclose(cnn(long).numpy()[0], session.run(None, {"input_1": windows})[0].reshape(3, 96), atol=2e-4, rtol=1e-4)
