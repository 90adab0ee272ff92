"""Errors shared by every exporter (kept free of model-specific imports)."""


class ExportVerificationError(RuntimeError):
    """An exported file's task metric fell more than the tolerance below the Keras model's.

    `.result` holds the measured figures of the refused file; nothing is written.
    """

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result
