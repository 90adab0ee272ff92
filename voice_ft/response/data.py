"""Dialogue data for response generation: SGD dialogues and users' own (prompt, response) files.

SGD conversion (`sgd_response_pairs`), documented because it decides what the model learns:

- every system turn with non-empty text becomes one example; its **response** is that turn's
  text, verbatim (whitespace collapsed);
- its **context** is the turns before it in the same dialogue, oldest first, as
  `(speaker, text)`; the prompt template keeps the last `max_turns` of them;
- its **intent** is the active intent of the user turn just before it (the SGD subset keeps
  `frames[].state.active_intent`; with several frames the last one is used); slot values are
  not in the bundled subset, so `slots` is empty;
- the system acts (`REQUEST(city)`, ...) describe the answer itself, so they are *not* used as
  input; they are kept on the pair (`acts`) for analysis.

The bundled subset lives in the repo's `data/sgd_dialogues/` (CC BY-SA 4.0, see its README).

Users' own data: JSON Lines with one object per line, either
`{"prompt": "...", "response": "..."}` (prompt used as the last user turn) or
`{"context": ["user turn", "assistant turn", ...] | [{"speaker": ..., "text": ...}], "response": "...",
"intent": "...", "slots": {...}}`. Every error names the file and line.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable

from voice_ft.data.bundled import data_root
from voice_ft.data.readers import iter_jsonl
from voice_ft.runtime.errors import DataError

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class DialoguePair:
    """A (context -> response) training or evaluation example.

    Attributes:
        context: previous turns, oldest first, as `(speaker, text)`; speaker "user" or "assistant".
        response: the assistant's reply.
        intent: the parsed intent of the last user turn, if known.
        slots: parsed slot name -> value, if known.
        source: where it came from ("<file>:<line>" or "<dialogue_id>#<turn>").
        acts: SGD system acts of the response (not used as model input).
    """

    context: tuple[tuple[str, str], ...]
    response: str
    intent: str | None = None
    slots: tuple[tuple[str, str], ...] = ()
    source: str = ""
    acts: tuple[str, ...] = ()

    def prompt(self, template) -> str:
        """The prompt text for a `voice_ft.response.PromptTemplate`."""
        return template.format(self.context, intent=self.intent, slots=dict(self.slots))


def sgd_dir() -> pathlib.Path:
    """The bundled SGD subset: `$VOICE_FT_DATA_DIR/sgd_dialogues`, else the repo's `data/sgd_dialogues`."""
    return data_root() / "sgd_dialogues"


def _clean(text) -> str:
    return " ".join(str(text).split())


def sgd_response_pairs(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    max_dialogues: int | None = None,
    max_context_turns: int = 8,
) -> list[DialoguePair]:
    """Converts SGD dialogues of one split into (context -> system response) pairs.

    Args:
        split: "train", "validation" or "test", or a path to a dialogues `.jsonl` file.
        data_dir: the folder holding `<split>.jsonl`; defaults to `sgd_dir()`.
        max_dialogues: read only the first N dialogues (quick runs).
        max_context_turns: keep at most this many previous turns per example.

    Raises:
        DataError: a malformed line, naming file and line.
    """
    path = pathlib.Path(split)
    if split in SPLITS:
        path = pathlib.Path(data_dir or sgd_dir()) / f"{split}.jsonl"
    pairs = []
    for count, (line_no, record) in enumerate(iter_jsonl(path)):
        if max_dialogues is not None and count >= max_dialogues:
            break
        turns = record.get("turns")
        if not isinstance(turns, list):
            raise DataError("expected a 'turns' list", path, line_no)
        history: list[tuple[str, str]] = []
        intent = None
        for index, turn in enumerate(turns):
            if not isinstance(turn, dict) or turn.get("speaker") not in ("user", "system"):
                raise DataError(f"turn {index}: expected speaker 'user' or 'system'", path, line_no)
            text = _clean(turn.get("text", ""))
            if turn["speaker"] == "user":
                intents = turn.get("intents") or []
                intent = intents[-1] if intents else None
                history.append(("user", text))
                continue
            if text and history:
                pairs.append(
                    DialoguePair(
                        context=tuple(history[-max_context_turns:]),
                        response=text,
                        intent=intent,
                        source=f"{record.get('dialogue_id', line_no)}#{index}",
                        acts=tuple(turn.get("acts") or ()),
                    )
                )
            history.append(("assistant", text))
    return pairs


def _parse_context(value, path, line_no) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DataError("'context' must be a non-empty list of turns", path, line_no)
    turns = []
    for i, turn in enumerate(value):
        if isinstance(turn, str):
            speaker, text = ("user" if i % 2 == 0 else "assistant"), turn
        elif isinstance(turn, dict) and isinstance(turn.get("text"), str):
            speaker = str(turn.get("speaker", "user" if i % 2 == 0 else "assistant")).lower()
            speaker = "assistant" if speaker == "system" else speaker
            text = turn["text"]
            if speaker not in ("user", "assistant"):
                raise DataError(f"context turn {i}: unknown speaker {speaker!r} (use user/assistant)", path, line_no)
        else:
            raise DataError(f"context turn {i}: expected a string or {{'speaker', 'text'}}", path, line_no)
        turns.append((speaker, _clean(text)))
    return tuple(turns)


def read_response_jsonl(path: str | os.PathLike) -> list[DialoguePair]:
    """Reads users' own (prompt, response) pairs from JSON Lines (format in the module docstring).

    Raises:
        DataError: a missing file, malformed JSON, no prompt/context, an empty response, or
            badly typed intent/slots, naming the file and line.
    """
    pairs = []
    for line_no, record in iter_jsonl(path):
        response = record.get("response")
        if not isinstance(response, str) or not response.strip():
            raise DataError("'response' must be a non-empty string", path, line_no)
        if "context" in record:
            context = _parse_context(record["context"], path, line_no)
        elif isinstance(record.get("prompt"), str) and record["prompt"].strip():
            context = (("user", _clean(record["prompt"])),)
        else:
            raise DataError("needs a non-empty 'prompt' string or a 'context' list", path, line_no)
        intent = record.get("intent")
        if intent is not None and not isinstance(intent, str):
            raise DataError("'intent' must be a string", path, line_no)
        slots = record.get("slots") or {}
        if not isinstance(slots, dict) or not all(isinstance(v, str) for v in slots.values()):
            raise DataError("'slots' must be an object of strings", path, line_no)
        pairs.append(
            DialoguePair(context=context, response=_clean(response), intent=intent,
                         slots=tuple(slots.items()), source=f"{path}:{line_no}")
        )
    if not pairs:
        raise DataError("no (prompt, response) pairs found", path)
    return pairs


def to_prompt_response(pairs: Iterable[DialoguePair], template) -> list[tuple[str, str]]:
    """Formats pairs with a prompt template: `[(prompt_text, response_text), ...]`."""
    return [(pair.prompt(template), pair.response) for pair in pairs]
