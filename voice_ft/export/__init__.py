"""TFLite export: conversion with builtin ops only, sidecar metadata, verification against Keras.

Import the submodules directly (`voice_ft.export.convert`, `voice_ft.export.text_classifier`, ...).
"""
