"""Prompt templates: a dialogue context (and optionally the parsed intent and slots) -> prompt text.

Two styles, because the two decoder families were trained differently:

- ``"plain"`` (GPT-2, tiny test models): transcript lines, the model continues after
  ``"Assistant:"`` and ends its answer with ``<|endoftext|>``::

      User: Find me a place to eat in San Jose.
      [intent: FindRestaurants; city=San Jose]
      Assistant:

- ``"chatml"`` (SmolLM2-Instruct, the format it was instruction-tuned on): turns wrapped in
  ``<|im_start|>role ... <|im_end|>``; intent and slots go into the system message; the answer
  ends with ``<|im_end|>``.

Whitespace inside a turn is collapsed to single spaces, so the TF-free runtime tokenizer and
keras-hub's tokenizer see identical text (they differ only on runs of spaces).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

STYLES = ("plain", "chatml")
_USER_SPEAKERS = ("user",)
_ASSISTANT_SPEAKERS = ("system", "assistant")


def _clean(text: str) -> str:
    return " ".join(str(text).split())


@dataclasses.dataclass(frozen=True)
class PromptTemplate:
    """Turns dialogue context into a prompt.

    Attributes:
        style: "plain" or "chatml".
        max_turns: keep only the last `max_turns` context turns (older ones rarely matter and
            cost context window).
        system: the system message ("chatml" only).
        end_text: the text that ends a response (the stop token's text).

    Example:
        >>> t = PromptTemplate("plain")
        >>> t.format([("user", "Set an alarm for 7.")], intent="AddAlarm")
        'User: Set an alarm for 7.\\n[intent: AddAlarm]\\nAssistant:'
    """

    style: str = "plain"
    max_turns: int = 5
    system: str = "You are a helpful voice assistant. Answer in one or two short sentences."
    end_text: str = "<|endoftext|>"

    def __post_init__(self):
        if self.style not in STYLES:
            raise ValueError(f"PromptTemplate style must be one of {STYLES}, got {self.style!r}.")
        if self.max_turns < 1:
            raise ValueError("PromptTemplate max_turns must be >= 1.")

    @classmethod
    def chatml(cls, **kwargs) -> "PromptTemplate":
        """The SmolLM2-Instruct chat format (ends with `<|im_end|>`)."""
        return cls(style="chatml", end_text="<|im_end|>", **kwargs)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def _nlu_text(intent: str | None, slots: Mapping[str, str] | None) -> str:
        parts = []
        if intent:
            parts.append(f"intent: {_clean(intent)}")
        for name, value in (slots or {}).items():
            parts.append(f"{_clean(name)}={_clean(value)}")
        return "; ".join(parts)

    def format(
        self,
        context: Sequence[tuple[str, str]] | Sequence[str] | str,
        intent: str | None = None,
        slots: Mapping[str, str] | None = None,
    ) -> str:
        """Builds the prompt that the response continues.

        Args:
            context: the previous turns, oldest first, as `(speaker, text)` with speaker "user"
                or "system"/"assistant"; bare strings alternate starting from the user, and a
                single string is one user turn. The last turn is normally the user's.
            intent: the parsed intent of the last user turn, if known.
            slots: parsed slot name -> value, if known.
        """
        turns = self._normalize(context)[-self.max_turns :]
        nlu = self._nlu_text(intent, slots)
        if self.style == "plain":
            lines = [f"{'User' if s in _USER_SPEAKERS else 'Assistant'}: {t}" for s, t in turns]
            if nlu:
                lines.append(f"[{nlu}]")
            lines.append("Assistant:")
            return "\n".join(lines)
        system = self.system + (f" Parsed request: {nlu}." if nlu else "")
        parts = [f"<|im_start|>system\n{system}<|im_end|>\n"]
        for speaker, text in turns:
            role = "user" if speaker in _USER_SPEAKERS else "assistant"
            parts.append(f"<|im_start|>{role}\n{text}<|im_end|>\n")
        parts.append("<|im_start|>assistant\n")
        return "".join(parts)

    def format_response(self, response: str) -> str:
        """The training target text that follows the prompt (without the stop token)."""
        text = _clean(response)
        return f" {text}" if self.style == "plain" else text

    @staticmethod
    def _normalize(context) -> list[tuple[str, str]]:
        if isinstance(context, str):
            context = [context]
        turns = []
        for i, turn in enumerate(context):
            if isinstance(turn, str):
                speaker, text = ("user" if i % 2 == 0 else "assistant"), turn
            else:
                speaker, text = turn
                speaker = str(speaker).lower()
                if speaker not in _USER_SPEAKERS + _ASSISTANT_SPEAKERS:
                    raise ValueError(f"Unknown speaker {speaker!r} in turn {i}; use 'user' or 'assistant'.")
            turns.append((speaker, _clean(text)))
        return turns
