"""Audio classification: speech commands / keywords and spoken intents, waveform in, label out.

`model.py` (DS-CNN with the log-mel/MFCC front end inside), `pretrained.py` (classifiers on Google's
speech_embedding), `spoken_intent.py` (a whole spoken command -> its intent), `export.py` (waveform-in
`.tflite`, int8 with the front end kept float, verified). Audio data, augmentation and synthesis are
shared (`voice_ft.data`); the phone side is `voice_ft.runtime.AudioClassifier`.
"""
