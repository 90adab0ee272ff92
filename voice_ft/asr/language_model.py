"""The domain's text as a token n-gram model for shallow fusion (`voice_ft.runtime.token_language_model`).

`fit_token_language_model(backbone, sentences)` tokenizes each sentence exactly as fine-tuning
does (`transcript_token_ids`: a leading space, the recogniser's BPE, the end token), so the model
scores the tokens the decoder writes. `read_domain_sentences` takes the text from a file the user
already has: a `.jsonl` text data set (its "text" field) or a plain text file (a sentence a line).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable

from voice_ft.runtime.errors import DataError
from voice_ft.runtime.token_language_model import TokenNgramModel


def fit_token_language_model(backbone, sentences: Iterable[str], order: int = 4,
                             discount: float | None = None) -> TokenNgramModel:  # fmt: skip
    """A Kneser-Ney token n-gram model of `sentences` over a Whisper backbone's whole output vocabulary
    (its logits' width, which is larger than the tokenizer's count of text tokens)."""
    from voice_ft.asr.data import transcript_token_ids
    from voice_ft.asr.decoding import prompt_ids

    tokenizer = backbone.tokenizer
    skip = len(prompt_ids(tokenizer))
    sequences = [transcript_token_ids(tokenizer, s)[skip:] for s in sentences if str(s).split()]
    if not sequences:
        raise ValueError("fit_token_language_model: no non-empty sentences.")
    return TokenNgramModel.fit(sequences, vocab_size=int(backbone.model.vocabulary_size), order=order, discount=discount)


def read_domain_sentences(path: str | os.PathLike, field: str = "text") -> list[str]:
    """Sentences of a `.jsonl` file (`field` of each row) or of a text file (one a line, blank lines skipped).

    Raises:
        DataError: a missing file, a row that is not JSON or lacks `field` (naming the line), or no sentences.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError("no such file", path)
    sentences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"not JSON ({error.msg})", path, number) from error
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise DataError(f"no text field {field!r}", path, number)
            line = row[field]
        sentences.append(" ".join(line.split()))
    if not sentences:
        raise DataError("no sentences", path)
    return sentences
