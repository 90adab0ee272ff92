"""Joint intent detection and slot filling: sentence -> intent + slot values with character offsets.

`readers.py` (JSONL, CoNLL, inline markup -> `SlotExample`), `data.py` (`load_nlu`, word/WordPiece
alignment into tf.data), `model.py` (JointBERT builder, optional CRF, `parse`, saving), `train.py`
(`fit_nlu`, `evaluate_nlu`), `metrics.py` (conlleval slot F1), `export.py` (verified `.tflite`).
The phone side is `voice_ft.runtime.NLUParser`.
"""
