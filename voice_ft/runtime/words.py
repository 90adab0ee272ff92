"""The words of a transcript, as WER counts them and as the speech-to-intent runtime feeds them to the NLU.

One rule for both sides (`voice_ft.asr.metrics` scores with it, `voice_ft.runtime.SpeechToIntent`
parses with it), so a transcript that scores as right is also parsed as the words it was scored on:

1. Unicode NFKC, then lowercase ("Turn" == "turn");
2. every character that is punctuation or a symbol (Unicode categories P* and S*) becomes a space,
   except an apostrophe between two letters or digits, which is kept ("what's" stays one word,
   "'quoted'" loses its quotes); so "twenty-one" is two words and "lights." is "lights";
3. split on whitespace.
"""

from __future__ import annotations

import unicodedata

_APOSTROPHES = ("'", "\u2019")


def normalize_words(text: str) -> list[str]:
    """The words WER compares: lowercased, punctuation and symbols removed (see the module docstring)."""
    text = unicodedata.normalize("NFKC", str(text)).lower()
    chars = []
    for i, ch in enumerate(text):
        if ch in _APOSTROPHES:
            inside = 0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
            chars.append("'" if inside else " ")
        elif unicodedata.category(ch)[0] in "PS":
            chars.append(" ")
        else:
            chars.append(ch)
    return "".join(chars).split()
