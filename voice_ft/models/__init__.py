"""Task builders: each returns a plain functional Keras model over a backbone.

Import the submodules directly; this package imports nothing heavy by itself.
"""
