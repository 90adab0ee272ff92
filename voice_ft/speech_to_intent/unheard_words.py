"""Grammar words that no training sentence says, as short spoken word lists for the recogniser.

A grammar's sampled training sentences leave many of its words unsaid: slot values the sampler did
not draw, and, with `split_by="expression"`, the words that only held-out expressions hold. The
exported recogniser may write every grammar word (`voice_ft.asr.output_vocabulary`), but a word it
never heard in fine-tuning comes out as a trained one that sounds alike ("heat" heard as "hey to",
"dim" as "give"). `unheard_words` finds them and `word_lists` turns them into short lists ("dim heat listen
brighten"), each word in `repeats` lists, which `fit_speech_to_intent(unheard_word_repeats=...)`
renders in the training voices and adds to the recogniser's training clips (not the NLU's: they are
not commands). The lists are shuffled, so no word order is taught.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from voice_ft.data.speech_synthesis import Utterance
from voice_ft.runtime.words import normalize_words

LABEL = "unheard_words"


def unheard_words(grammar_words: Iterable[str], sentences: Iterable[Sequence[str]]) -> list[str]:
    """The grammar words (sorted) that none of `sentences` (each a sequence of words) says. Words compare as the
    WER does (`normalize_words`: case and punctuation ignored), so a manifest's "Turn on the Lights." says "lights"."""
    heard = {part for sentence in sentences for word in sentence for part in normalize_words(word)}
    return sorted({word for word in grammar_words if not set(normalize_words(word)) <= heard})


def word_lists(words: Sequence[str], repeats: int = 2, words_per_list: int = 4, seed: int = 0) -> list[Utterance]:
    """Lists that say each of `words` (`unheard_words`) `repeats` times, `words_per_list` words a list (the last
    list of a round may be shorter), with no word twice in a list; seeded. Empty when `words` is or `repeats` is 0.

    Raises:
        ValueError: `repeats` < 0 or `words_per_list` < 1.
    """
    if repeats < 0:
        raise ValueError(f"repeats must be >= 0, got {repeats}")
    if words_per_list < 1:
        raise ValueError(f"words_per_list must be >= 1, got {words_per_list}")
    rng = random.Random(seed)
    lists = []
    for _ in range(repeats):  # each round says every word once, so no list holds a word twice
        order = rng.sample(words, len(words))
        lists += [order[i : i + words_per_list] for i in range(0, len(order), words_per_list)]
    return [Utterance(" ".join(group), LABEL) for group in lists]
