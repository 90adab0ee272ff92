"""Text classification (intent, sentiment): sentence -> one label.

`model.py` builds the classifier over a pretrained encoder; `export.py` converts it to a verified
`.tflite` with its sidecar. Data comes from the shared readers (`voice_ft.data`) and training from
the shared recipe (`voice_ft.training.fit`); the phone side is `voice_ft.runtime.TextClassifier`.
"""
