"""The intent + slot record every slot reader returns, and its validator (no TensorFlow).

It lives in the core so that readers of any kind can produce it: the task's file readers
(`voice_ft.nlu.readers`: JSONL, CoNLL, inline markup) and the grammar sampler
(`voice_ft.data.grammar`), which generates training sentences from a Rhino-style context.
"""

from __future__ import annotations

import dataclasses

from voice_ft.runtime.errors import DataError
from voice_ft.runtime.slot_alignment import bio_error


@dataclasses.dataclass(frozen=True)
class SlotExample:
    """One utterance: words, one BIO tag per word, the intent, and where it came from."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    intent: str
    path: str
    line: int

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


def make_example(tokens, tags, intent, path, line) -> SlotExample:
    """Validates one record; raises `DataError` naming `path:line` on any problem."""
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise DataError("tokens must be a list of strings", path, line)
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise DataError("slot tags must be a list of strings", path, line)
    if not tokens:
        raise DataError("empty utterance (no tokens)", path, line)
    if len(tokens) != len(tags):
        raise DataError(f"{len(tokens)} tokens but {len(tags)} slot tags; each word needs exactly one tag", path, line)
    for i, token in enumerate(tokens):
        if not token or any(c in " \t\n\r\f" for c in token):
            raise DataError(f"token {i + 1} ({token!r}) is empty or contains whitespace", path, line)
    problem = bio_error(tags)
    if problem:
        raise DataError(f"invalid BIO tags: {problem}", path, line)
    if not isinstance(intent, str) or not intent.strip():
        raise DataError("missing intent", path, line)
    return SlotExample(tuple(tokens), tuple(tags), intent, str(path), line)
