"""Prompt templates: exact prompt text for both styles, turn limits, bad input."""

import pytest

from voice_ft.runtime.prompt_template import PromptTemplate


def test_plain_prompt_with_intent_and_slots():
    t = PromptTemplate("plain")
    prompt = t.format(
        [("user", "Find a  place to eat."), ("system", "Which city?"), ("user", "San Jose")],
        intent="FindRestaurants",
        slots={"city": "San Jose"},
    )
    assert prompt == (
        "User: Find a place to eat.\nAssistant: Which city?\nUser: San Jose\n"
        "[intent: FindRestaurants; city=San Jose]\nAssistant:"
    )
    assert t.format_response("  Sure   thing ") == " Sure thing"


def test_chatml_prompt_puts_nlu_in_system_message_and_ends_open():
    t = PromptTemplate.chatml(system="Be brief.")
    prompt = t.format(["Set an alarm", "For when?", "7 am"], intent="AddAlarm")
    assert prompt.startswith("<|im_start|>system\nBe brief. Parsed request: intent: AddAlarm.<|im_end|>\n")
    assert "<|im_start|>assistant\nFor when?<|im_end|>\n<|im_start|>user\n7 am<|im_end|>\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    assert t.end_text == "<|im_end|>"
    assert t.format_response("Done.") == "Done."


def test_only_the_last_turns_are_kept():
    turns = [f"turn {i}" for i in range(9)]
    prompt = PromptTemplate("plain", max_turns=3).format(turns)
    assert "turn 5" not in prompt and prompt.startswith("User: turn 6\n")


def test_bad_style_and_speaker_are_errors():
    with pytest.raises(ValueError, match="style"):
        PromptTemplate("alpaca")
    with pytest.raises(ValueError, match="speaker"):
        PromptTemplate().format([("robot", "hi")])


def test_round_trips_through_dict():
    t = PromptTemplate.chatml(max_turns=2)
    assert PromptTemplate(**t.to_dict()) == t
