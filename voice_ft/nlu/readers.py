"""Readers for intent + slot data -> validated `SlotExample`s (no TensorFlow).

Four formats, one record type:

- SNIPS-style / generic JSON Lines: `{"tokens": [...], "slots": [...], "intent": "..."}` (field
  names configurable; `"text"` split at whitespace when there are no tokens; or a `"markup"` field).
- CoNLL-style BIO files: one `token ... tag` line per word (the first column is the word, the last
  the tag), a blank line between sentences, and the intent on a comment line before each sentence
  (`# intent: SetAlarm` or `# intent = SetAlarm`).
- Inline markup as users write it: `wake me up at [seven am](time)`, in a Rasa-style Markdown
  file (`## intent:SetAlarm` then `- utterance` lines) or a text file of `Intent<TAB>utterance`.

Everything is checked while reading, so a bad line is reported with its file and line (and column
for markup) before any training time is spent: token/tag count mismatch, tags that are not BIO,
an `I-` tag without its `B-`, unbalanced or malformed markup brackets, a missing intent.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Iterable, Sequence

from voice_ft.data.readers import existing_file, iter_jsonl, open_text
from voice_ft.data.slot_examples import SlotExample, make_example
from voice_ft.runtime.errors import DataError
from voice_ft.runtime.slot_alignment import OUTSIDE, split_words, tag_parts

_SLOT_NAME = re.compile(r"^[^\s\[\]()]+$")


# === JSON Lines =====================================================================


def read_slot_jsonl(
    path: str | os.PathLike,
    tokens_field: str = "tokens",
    tags_field: str = "slots",
    intent_field: str = "intent",
    text_field: str = "text",
    markup_field: str = "markup",
) -> list[SlotExample]:
    """Reads JSON Lines with tokens + BIO tags + intent (SNIPS layout), or text/markup + intent.

    A record needs `tags_field` plus `tokens_field` (or `text_field`, split at whitespace), or
    else `markup_field` holding inline markup.
    """
    examples = []
    for line_no, record in iter_jsonl(path):
        intent = record.get(intent_field)
        if intent is None:
            raise DataError(f"missing field {intent_field!r}", path, line_no)
        if markup_field in record and tags_field not in record:
            tokens, tags = parse_markup(record[markup_field], path, line_no)
        else:
            if tags_field not in record:
                raise DataError(f"missing field {tags_field!r} (or {markup_field!r})", path, line_no)
            tokens = record.get(tokens_field)
            if tokens is None:
                text = record.get(text_field)
                if not isinstance(text, str):
                    raise DataError(f"missing field {tokens_field!r} (or {text_field!r})", path, line_no)
                tokens = [w for w, _, _ in split_words(text)]
            tags = record[tags_field]
        examples.append(make_example(tokens, tags, intent, path, line_no))
    if not examples:
        raise DataError("no examples found", path)
    return examples


# === CoNLL ==========================================================================

_INTENT_COMMENT = re.compile(r"^#\s*intent\s*[:=]\s*(\S+)\s*$")


def read_conll(path: str | os.PathLike, default_intent: str | None = None) -> list[SlotExample]:
    """Reads a CoNLL-style BIO file (word first column, tag last column, blank line between sentences).

    The intent comes from a `# intent: X` (or `# intent = X`) line before the sentence, else
    `default_intent`; a sentence with neither is an error. Other `#` lines are comments.
    """
    path = existing_file(path)
    examples = []
    tokens, tags, intent, first_line = [], [], None, None

    def flush():
        nonlocal tokens, tags, intent, first_line
        if tokens:
            if intent is None and default_intent is None:
                raise DataError("sentence has no intent (add a '# intent: <name>' line before it)", path, first_line)
            examples.append(make_example(tokens, tags, intent or default_intent, path, first_line))
        tokens, tags, intent, first_line = [], [], None, None

    with open_text(path) as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line:
                flush()
                continue
            if line.startswith("#"):
                match = _INTENT_COMMENT.match(line)
                if match:
                    if tokens:
                        raise DataError("intent line inside a sentence (leave a blank line before it)", path, line_no)
                    intent = match.group(1)
                continue
            columns = line.split()
            if len(columns) < 2:
                raise DataError(f"expected 'word tag' columns, got {line!r}", path, line_no)
            try:
                tag_parts(columns[-1])
            except ValueError as e:
                raise DataError(str(e), path, line_no) from None
            if first_line is None:
                first_line = line_no
            previous = tags[-1] if tags else OUTSIDE
            prefix, slot = tag_parts(columns[-1])
            if prefix == "I" and previous not in (f"B-{slot}", f"I-{slot}"):
                raise DataError(
                    f"invalid BIO tags: {columns[-1]!r} follows {previous!r} (an I- tag must continue a B- or I- tag "
                    "of the same slot)", path, line_no,
                )  # fmt: skip
            tokens.append(columns[0])
            tags.append(columns[-1])
    flush()
    if not examples:
        raise DataError("no sentences found", path)
    return examples


# === Inline markup ==================================================================


def parse_markup(markup: str, path=None, line: int | None = None) -> tuple[list[str], list[str]]:
    """`"wake me up at [seven am](time)"` -> (words, BIO tags).

    Entities are `[words](slot)`; their edges must fall on word boundaries (whitespace).
    Raises `DataError` for unbalanced or nested brackets, a missing `(slot)`, an empty entity or
    slot name, or an entity edge inside a word.
    """
    if not isinstance(markup, str):
        raise DataError(f"markup must be a string, got {type(markup).__name__}", path, line)
    plain: list[str] = []  # the text without markup
    entities: list[tuple[int, int, str]] = []  # (start, end, slot) in plain-text offsets
    i, open_at, open_col = 0, None, None

    def fail(message, column):
        raise DataError(f"{message} at column {column + 1} of {markup!r}", path, line)

    while i < len(markup):
        char = markup[i]
        if char == "[":
            if open_at is not None:
                fail("nested '[' (entities cannot contain entities)", i)
            open_at, open_col = len(plain), i
            i += 1
        elif char == "]":
            if open_at is None:
                fail("unbalanced ']' without '['", i)
            if not markup.startswith("(", i + 1):
                fail("']' must be followed by '(slot_name)'", i)
            close = markup.find(")", i + 2)
            if close < 0:
                fail("unbalanced '(' after ']': missing ')'", i + 1)
            slot = markup[i + 2 : close].strip()
            if not _SLOT_NAME.match(slot):
                fail(f"invalid slot name {slot!r}", i + 2)
            value = "".join(plain[open_at:])
            if not value.strip():
                fail("empty entity '[]'", open_col)
            entities.append((open_at, len(plain), slot))
            open_at = None
            i = close + 1
        else:
            plain.append(char)
            i += 1
    if open_at is not None:
        fail("unbalanced '[' without ']'", open_col)

    text = "".join(plain)
    words = split_words(text)
    if not words:
        raise DataError("empty utterance", path, line)
    tags = [OUTSIDE] * len(words)
    for start, end, slot in entities:
        # strip whitespace inside the brackets: "[ seven am ](time)"
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        covered = [k for k, (_, s, e) in enumerate(words) if s < end and e > start]
        if words[covered[0]][1] != start or words[covered[-1]][2] != end:
            raise DataError(
                f"entity [{text[start:end]}]({slot}) starts or ends inside a word in {markup!r}; "
                "put entity brackets at word boundaries", path, line,
            )  # fmt: skip
        for n, k in enumerate(covered):
            tags[k] = f"{'B' if n == 0 else 'I'}-{slot}"
    return [w for w, _, _ in words], tags


def read_markup(path: str | os.PathLike) -> list[SlotExample]:
    """Reads inline-markup utterances.

    Two layouts (the first non-blank, non-comment line decides):

    - Markdown (Rasa style): `## intent:SetAlarm` headers, then `- wake me up at [seven](time)` items;
    - tab-separated: `SetAlarm<TAB>wake me up at [seven](time)` per line.

    Lines starting with `<!--` or a single `#` (not `##`) are comments.
    """
    path = existing_file(path)
    examples = []
    intent = None
    with open_text(path) as f:
        for line_no, raw in enumerate(f, start=1):
            line = raw.strip()
            if not line or line.startswith("<!--") or (line.startswith("#") and not line.startswith("##")):
                continue
            if line.startswith("##"):
                header = line[2:].strip()
                if not header.startswith("intent:") or not header[len("intent:"):].strip():
                    raise DataError(f"expected a '## intent:<name>' header, got {line!r}", path, line_no)
                intent = header[len("intent:"):].strip()
                continue
            if line.startswith("- ") or line == "-":
                if intent is None:
                    raise DataError("utterance before any '## intent:<name>' header", path, line_no)
                utterance, this_intent = line[1:].strip(), intent
            elif "\t" in raw:
                this_intent, utterance = (part.strip() for part in raw.rstrip("\n").split("\t", 1))
            else:
                raise DataError("expected '- utterance' under an intent header, or 'intent<TAB>utterance'", path, line_no)
            tokens, tags = parse_markup(utterance, path, line_no)
            examples.append(make_example(tokens, tags, this_intent, path, line_no))
    if not examples:
        raise DataError("no utterances found", path)
    return examples


# === Any file, label sets ===========================================================


def read_slot_file(path: str | os.PathLike, **kwargs) -> list[SlotExample]:
    """Reads `.jsonl`/`.json`, `.conll`/`.bio`/`.iob`, or `.md`/`.txt`/`.tsv` (markup) by extension."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_slot_jsonl(path, **kwargs)
    if suffix in (".conll", ".bio", ".iob"):
        return read_conll(path, **kwargs)
    if suffix in (".md", ".txt", ".tsv"):
        return read_markup(path)
    raise DataError(f"unsupported file type {suffix!r}; use .jsonl, .conll/.bio/.iob or .md/.txt/.tsv (markup)", path)


def slot_tags_from_examples(examples: Iterable[SlotExample]) -> list[str]:
    """`O` then `B-x`, `I-x` for every slot seen, sorted by slot name."""
    slots = sorted({tag_parts(t)[1] for ex in examples for t in ex.tags if t != OUTSIDE})
    return [OUTSIDE] + [f"{p}-{s}" for s in slots for p in ("B", "I")]


def check_known(examples: Sequence[SlotExample], intents: Sequence[str], slot_tags: Sequence[str]) -> None:
    """Raises `DataError` (file and line) for an intent or slot tag the model does not know."""
    known_intents, known_tags = set(intents), set(slot_tags)
    known_slots = sorted({tag_parts(t)[1] for t in slot_tags if t != OUTSIDE})
    for ex in examples:
        if ex.intent not in known_intents:
            raise DataError(f"unknown intent {ex.intent!r}; the model's intents are: {', '.join(intents)}", ex.path, ex.line)
        for i, tag in enumerate(ex.tags):
            if tag not in known_tags:
                shown = ", ".join(known_slots[:30]) + (" ..." if len(known_slots) > 30 else "")
                raise DataError(
                    f"unknown slot tag {tag!r} (word {i + 1}, {ex.tokens[i]!r}); the model's slots are: {shown}",
                    ex.path, ex.line,
                )  # fmt: skip

