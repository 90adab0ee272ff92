"""A TensorFlow-free WordPiece tokenizer that reproduces keras-hub's BERT token ids.

Why: an exported text model takes `token_ids`/`padding_mask`, so the phone-side runtime has
to tokenize exactly like training did. Training runs `keras_hub.tokenizers.BertTokenizer`
(a `WordPieceTokenizer`) inside `tf.data`, i.e. keras-hub 0.32's TF path
(`word_piece_tokenizer.pretokenize` + `tf_text.FastWordpieceTokenizer`). This module
re-implements that path with the standard library and numpy only:

1. strip accents (optional): NFD, then drop combining marks (category Mn);
2. split: the text ends at its first NUL (`tf_text.regex_split` stops reading there); delimiters
   are ASCII whitespace `[ \\t\\n\\r\\f]` (RE2's `\\s` is ASCII-only, so e.g.
   U+00A0 is *not* a delimiter), control (Cc) and format (Cf) characters; punctuation (the
   four non-alphanumeric ASCII ranges plus Unicode `P*`) and CJK ideographs are delimiters
   that are kept as one-character words;
3. lowercase (optional): per word, `tf_text.case_fold_utf8`, i.e. NFKC_Casefold (NFKC, full
   case folding, default-ignorable code points removed);
4. WordPiece: greedy longest-match-first with suffix indicator `"##"`; a word that cannot be
   covered, or is longer than `max_bytes_per_word` UTF-8 bytes (100, FastWordpiece's
   default), becomes one `oov_token`.

`encode()` then packs `[CLS] tokens [SEP] [PAD]...` the way
`keras_hub.models.BertTextClassifierPreprocessor` does for one segment (its
`MultiSegmentPacker`; for one segment this is `StartEndPacker` with start and end values):
tokens are cut to `sequence_length - 2` so the start and end tokens always survive, and
`padding_mask = token_ids != pad_id`.

Offsets (`tokenize_with_offsets`, `split_words`) are character offsets into the original,
un-normalized string, for mapping token-level predictions (slots) back onto the text.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from typing import Iterable, Sequence

import numpy as np

# Code points that NFKC_Casefold removes (Unicode Default_Ignorable_Code_Point), as in
# keras_hub.src.utils.tensor_utils.casefold_utf8.
_DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)  # fmt: skip

# CJK ideograph blocks split off as single characters (google-research/bert's list).
_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip

_ASCII_WHITESPACE = frozenset(" \t\n\r\f")

# Character classes for splitting.
_OTHER, _SPACE, _KEEP = 0, 1, 2


def _is_default_ignorable(char: str) -> bool:
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _DEFAULT_IGNORABLE_RANGES)


def casefold(text: str) -> str:
    """NFKC_Casefold, as `tf_text.case_fold_utf8` applies it."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    if any(_is_default_ignorable(c) for c in text):
        text = "".join(c for c in text if not _is_default_ignorable(c))
    return text


@functools.lru_cache(maxsize=4096)
def _char_class(char: str, split_on_cjk: bool) -> int:
    """Whether `char` is a dropped delimiter, a kept delimiter, or part of a word."""
    if char in _ASCII_WHITESPACE:
        return _SPACE
    cat = unicodedata.category(char)
    if cat in ("Cc", "Cf"):
        return _SPACE
    cp = ord(char)
    if (0x21 <= cp <= 0x2F or 0x3A <= cp <= 0x40 or 0x5B <= cp <= 0x60 or 0x7B <= cp <= 0x7E
            or cat.startswith("P")):  # fmt: skip
        return _KEEP
    if split_on_cjk and any(lo <= cp <= hi for lo, hi in _CJK_RANGES):
        return _KEEP
    return _OTHER


@functools.lru_cache(maxsize=4096)
def _strip_accents(char: str) -> str:
    """NFD-decompose one character and drop its combining marks (Mn)."""
    return "".join(c for c in unicodedata.normalize("NFD", char) if unicodedata.category(c) != "Mn")


def _read_vocabulary(vocabulary: str | os.PathLike | Iterable[str]) -> list[str]:
    if isinstance(vocabulary, (str, os.PathLike)):
        with open(vocabulary, encoding="utf-8") as f:
            return [line.rstrip() for line in f]  # keras-hub strips trailing whitespace too
    return list(vocabulary)


class WordPieceTokenizer:
    """BERT WordPiece tokenization in pure Python, id-for-id with keras-hub 0.32.

    Args:
        vocabulary: path of a one-token-per-line vocabulary file, or a list of tokens.
        lowercase: case-fold words (NFKC_Casefold), as uncased BERT checkpoints need.
        strip_accents: NFD-decompose and drop combining marks before splitting.
        split_on_cjk: split CJK ideographs into single-character words.
        suffix_indicator: prefix marking a non-initial word piece.
        oov_token: token for words that cannot be tokenized (must be in the vocabulary).
        max_bytes_per_word: longer words (in UTF-8 bytes) map to `oov_token`.
        start_token, end_token, pad_token: special tokens used by `encode()`.
    """

    def __init__(
        self,
        vocabulary: str | os.PathLike | Iterable[str],
        lowercase: bool = True,
        strip_accents: bool = True,
        split_on_cjk: bool = True,
        suffix_indicator: str = "##",
        oov_token: str = "[UNK]",
        max_bytes_per_word: int = 100,
        start_token: str = "[CLS]",
        end_token: str = "[SEP]",
        pad_token: str = "[PAD]",
    ):
        self.vocabulary = _read_vocabulary(vocabulary)
        self.lowercase = lowercase
        self.strip_accents = strip_accents
        self.split_on_cjk = split_on_cjk
        self.suffix_indicator = suffix_indicator
        self.oov_token = oov_token
        self.max_bytes_per_word = max_bytes_per_word
        # Later duplicates win, as in keras-hub's `{token: i for i, token in ...}`.
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}
        for name, token in (("oov_token", oov_token), ("start_token", start_token),
                            ("end_token", end_token), ("pad_token", pad_token)):  # fmt: skip
            if token not in self._ids:
                raise ValueError(f"{name}={token!r} is not in the vocabulary.")
        self.oov_id = self._ids[oov_token]
        self.start_id = self._ids[start_token]
        self.end_id = self._ids[end_token]
        self.pad_id = self._ids[pad_token]
        # No vocabulary entry is longer than this, which bounds the greedy search.
        self._max_piece_chars = max(len(t) for t in self.vocabulary)
        self._word_cache: dict[str, list[tuple[int, int, int]]] = {}

    # -- vocabulary -------------------------------------------------------------------

    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def token_to_id(self, token: str) -> int:
        return self._ids[token]

    def id_to_token(self, token_id: int) -> str:
        return self.vocabulary[token_id]

    # -- pre-tokenization -------------------------------------------------------------

    def _raw_words(self, text: str) -> list[tuple[list[str], list[int]]]:
        """Splits `text`; each word is (normalized pieces, original index of each piece).

        A piece is what one original character turned into after accent stripping (possibly
        "" or several characters), so original offsets survive the normalization.
        """
        # keras-hub's TF path (`tf_text.regex_split`) reads each string only up to its first NUL:
        # "a\x00b c" gives the ids of "a". Cut there too (a prefix keeps the offsets valid).
        # keras-hub's pure-Python path does not cut; training in `tf.data` runs the TF path.
        text = text.split("\x00", 1)[0]
        words: list[tuple[list[str], list[int]]] = []
        pieces: list[str] = []
        origin: list[int] = []
        for i, char in enumerate(text):
            expanded = _strip_accents(char) if self.strip_accents else char
            for c in expanded:
                kind = _char_class(c, self.split_on_cjk)
                if kind == _OTHER:
                    if origin and origin[-1] == i:
                        pieces[-1] += c
                    else:
                        pieces.append(c)
                        origin.append(i)
                    continue
                if pieces:
                    words.append((pieces, origin))
                    pieces, origin = [], []
                if kind == _KEEP:
                    words.append(([c], [i]))
            if not expanded and pieces:  # e.g. a lone combining mark inside a word
                pieces.append("")
                origin.append(i)
        if pieces:
            words.append((pieces, origin))
        return words

    def split_words(self, text: str) -> list[tuple[str, int, int]]:
        """Pre-tokenized, normalized words with their `[start, end)` character offsets."""
        out = []
        for pieces, origin in self._raw_words(text):
            word = "".join(pieces)
            if self.lowercase:
                word = casefold(word)
            out.append((word, origin[0], origin[-1] + 1))
        return out

    # -- WordPiece --------------------------------------------------------------------

    def _wordpiece(self, word: str) -> list[tuple[int, int, int]]:
        """Greedy longest-match-first; returns (id, start, end) in characters of `word`."""
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        if not word:
            return []
        if len(word.encode("utf-8")) > self.max_bytes_per_word:
            result = [(self.oov_id, 0, len(word))]
        else:
            result = []
            start = 0
            while start < len(word):
                end = min(len(word), start + self._max_piece_chars)
                token_id = None
                while start < end:
                    piece = word[start:end] if start == 0 else self.suffix_indicator + word[start:end]
                    token_id = self._ids.get(piece)
                    if token_id is not None:
                        break
                    end -= 1
                if token_id is None:
                    result = [(self.oov_id, 0, len(word))]
                    break
                result.append((token_id, start, end))
                start = end
        if len(self._word_cache) < 100_000:
            self._word_cache[word] = result
        return result

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, without special tokens."""
        ids: list[int] = []
        for word, _, _ in self.split_words(text):
            ids.extend(t for t, _, _ in self._wordpiece(word))
        return ids

    def tokenize_with_offsets(self, text: str) -> list[tuple[int, int, int]]:
        """Token ids with `[start, end)` character offsets into the original `text`.

        Each word piece gets the span of the original characters it came from. When
        case folding changes a word's length so that characters cannot be aligned one to
        one (e.g. "ß" -> "ss" split across pieces stays aligned; NFKC ligatures may not),
        every piece of that word gets the whole word's span. `[UNK]` covers its whole word.
        """
        out: list[tuple[int, int, int]] = []
        for pieces, origin in self._raw_words(text):
            word = "".join(pieces)
            # char_origin[k]: original index of normalized character k, if alignable.
            char_origin: list[int] | None = []
            if self.lowercase:
                folded = [casefold(p) for p in pieces]
                word = casefold(word)
                if "".join(folded) != word:
                    char_origin = None
                else:
                    pieces = folded
            if char_origin is not None:
                for p, i in zip(pieces, origin):
                    char_origin.extend([i] * len(p))
            w_start, w_end = origin[0], origin[-1] + 1
            for token_id, s, e in self._wordpiece(word):
                if char_origin is None or e <= s:
                    out.append((token_id, w_start, w_end))
                else:
                    out.append((token_id, char_origin[s], char_origin[e - 1] + 1))
        return out

    # -- packing ----------------------------------------------------------------------

    def pack(self, ids: Sequence[int], sequence_length: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """`[start] ids [end] [pad]...`, truncating `ids` so start and end tokens survive."""
        if sequence_length < 2:
            raise ValueError(f"sequence_length must be >= 2 (room for start and end), got {sequence_length}")
        budget = sequence_length - 2
        truncated = len(ids) > budget
        packed = [self.start_id, *ids[:budget], self.end_id]
        token_ids = np.full((sequence_length,), self.pad_id, dtype=np.int32)
        token_ids[: len(packed)] = packed
        padding_mask = (token_ids != self.pad_id).astype(np.int32)
        return token_ids, padding_mask, truncated

    def encode(self, text: str, sequence_length: int) -> tuple[np.ndarray, np.ndarray, bool]:
        """(token_ids int32[seq], padding_mask int32[seq], truncated) for one text."""
        return self.pack(self.tokenize(text), sequence_length)

    def encode_batch(self, texts: Sequence[str], sequence_length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Batched `encode`: int32[batch, seq] ids and mask, bool[batch] truncated."""
        rows = [self.encode(t, sequence_length) for t in texts]
        if not rows:
            empty = np.zeros((0, sequence_length), np.int32)
            return empty, empty.copy(), np.zeros((0,), bool)
        ids, mask, trunc = zip(*rows)
        return np.stack(ids), np.stack(mask), np.array(trunc, dtype=bool)
