"""A recogniser's output vocabulary cut to a closed domain: the tokens its commands can be written with.

Whisper's decoder scores all 51,864 tokens at every step, through an output projection tied to the
51,864 x 384 token embedding. That table is two thirds of tiny.en's decoder, and an int8-weight
export holds it twice (a per-tensor copy for the input GATHER, a per-channel one for the output
FULLY_CONNECTED: 2 x 20 MB of tiny.en's 59 MB). A speech-to-intent model for one grammar only
ever needs the few hundred tokens its words are spelled with, so the export can keep just those rows
(`voice_ft.asr.export.export_speech_recognizer(output_token_ids=...)`): the same arithmetic on
the kept rows, a decoder a fraction of the size, and a logits layer ~100x smaller at every step.
Decoding over the kept rows equals decoding over the whole vocabulary with every other token at
-inf (`voice_ft.asr.decoding.greedy_transcribe(allowed_token_ids=...)`, the Keras reference).

What is kept (`domain_token_ids`):
- every token of every word given, spelled as Whisper writes it: with and without its leading
  space, lowercase, capitalised and upper case (byte-level BPE splits text at word boundaries,
  so a sentence of these words is spelled with these tokens, whatever its case);
- the punctuation marks Whisper ends and splits commands with (`PUNCTUATION_MARKS`), alone and
  after each word (a word ending in a symbol merges with a following mark: "30%." is "30" + "%.");
- `keep_ids`: the prompt and <|endoftext|>, and the training targets' token ids (so any spelling
  the model was trained to write stays writable).

A word outside the domain can then only be heard as domain tokens; the speech-to-intent
pipeline's rejection (the NLU's threshold, a slot phrase with no grammar value) is what tells
the user it was not understood.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PUNCTUATION_MARKS = (".", ",", "?", "!", "'", "-", ":")


def spellings(word: str) -> list[str]:
    """The forms a word is tokenized in: with/without a leading space; lower, Capitalised, UPPER."""
    word = " ".join(str(word).split())
    if not word:
        return []
    cases = {word, word.lower(), word[:1].upper() + word[1:].lower(), word.upper()}
    return sorted({prefix + form for form in cases for prefix in ("", " ")})


def domain_token_ids(tokenizer, words: Iterable[str], keep_ids: Iterable[int] = (),
                     punctuation: Iterable[str] = PUNCTUATION_MARKS) -> list[int]:
    """Sorted token ids a closed domain's transcripts are written with; see the module docstring.

    Args:
        tokenizer: the Whisper tokenizer (text -> ids).
        words: the domain's words (or phrases: each is split into words).
        keep_ids: ids kept whatever the words (prompt, <|endoftext|>, training targets).
        punctuation: marks kept, each with and without a leading space.

    Raises:
        ValueError: no word given (an empty vocabulary cannot decode anything).
    """
    forms = sorted({form for phrase in words for word in str(phrase).split() for form in spellings(word)})
    if not forms:
        raise ValueError("domain_token_ids: no words given.")
    marks = list(punctuation)
    texts = forms + [form + mark for form in forms for mark in marks] + [p + mark for mark in marks for p in ("", " ")]
    ids = {int(i) for i in keep_ids}
    tokenized = tokenizer(texts)  # one batched call: a RaggedTensor (keras-hub) or a list of id lists
    values = tokenized.flat_values if hasattr(tokenized, "flat_values") else [t for row in tokenized for t in row]
    ids.update(int(i) for i in np.asarray(values).reshape(-1))
    return sorted(ids)
