"""Speech recognition on pretrained encoder-decoder backbones (Whisper).

`greedy_transcribe` (in `decoding.py`) is the plain-Keras reference decoder: the later on-device
(TFLite) export is checked token for token against it, and it against faster-whisper.
"""

from voice_ft.asr.decoding import Transcription, greedy_transcribe

__all__ = ["Transcription", "greedy_transcribe"]
