"""TFLite export: conversion with builtin ops only, sidecar metadata, verification against Keras.

Import the submodules directly (`voice_ft.export.convert`, `voice_ft.text_classification.export`, ...).
"""
