"""Readers and tf.data pipelines for text and audio.

Import the submodules directly (`voice_ft.data.readers`, `voice_ft.data.text_pipeline`, ...);
this package imports nothing heavy by itself.
"""
