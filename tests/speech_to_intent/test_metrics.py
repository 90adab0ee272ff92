"""Command acceptance rate and the other speech-to-intent figures on hand-made predictions."""

import pytest

from voice_ft.speech_to_intent.metrics import Command, command_acceptance_rate, slot_value_prf, speech_to_intent_report

REFERENCES = [
    Command("setTemperature", {"temperature": "21"}, "set the heating to twenty one"),
    Command("changeLights", {"state": "on", "location": "kitchen"}, "turn on the kitchen lights"),
    Command("changeLights", {"state": "off", "location": "bedroom"}, "lights off in the bedroom"),
    Command("orderCoffee", {"size": "12 oz"}, "a twelve ounce coffee"),
]
PREDICTIONS = [
    # right intent, wrong value: not accepted
    {"intent": "setTemperature", "slots": {"temperature": "20"}, "not_understood": False,
     "transcript": "set the heating to twenty"},
    # exactly right: accepted
    {"intent": "changeLights", "slots": {"location": "kitchen", "state": "on"}, "not_understood": False,
     "transcript": "Turn on the kitchen lights."},
    # not understood: no intent, no slots
    {"intent": None, "slots": {}, "not_understood": True, "transcript": "lights of in the bedroom"},
    # right intent and value plus an extra slot: not accepted
    {"intent": "orderCoffee", "slots": {"size": "12 oz", "milk": "oat"}, "not_understood": False,
     "transcript": "a twelve ounce coffee"},
]  # fmt: skip


def test_acceptance_needs_the_intent_and_every_slot_value():
    assert command_acceptance_rate(REFERENCES, PREDICTIONS) == 0.25
    assert command_acceptance_rate(REFERENCES[1:2], PREDICTIONS[1:2]) == 1.0
    understood_but_flagged = [{**PREDICTIONS[1], "not_understood": True}]
    assert command_acceptance_rate(REFERENCES[1:2], understood_but_flagged) == 0.0


def test_slot_value_scores_count_name_value_pairs():
    # gold pairs 1+2+2+1 = 6; predicted 1+2+0+2 = 5; correct 0+2+0+1 = 3
    scores = slot_value_prf(REFERENCES, PREDICTIONS)
    assert scores["precision"] == pytest.approx(3 / 5) and scores["recall"] == pytest.approx(3 / 6)
    assert scores["f1"] == pytest.approx(2 * 0.6 * 0.5 / 1.1)
    assert slot_value_prf([Command("x", {})], [{"intent": "x", "slots": {}}])["f1"] == 1.0
    assert slot_value_prf([Command("x", {"a": "1"})], [{"intent": "x", "slots": {}}])["f1"] == 0.0


def test_report_has_every_figure():
    report = speech_to_intent_report(REFERENCES, PREDICTIONS)
    assert report["command_acceptance_rate"] == 0.25 and report["intent_accuracy"] == 0.75
    assert report["not_understood_rate"] == 0.25 and report["num_commands"] == 4
    # WER: 1 deletion ("one") + 0 + 1 substitution ("off" -> "of") + 0, over 6+5+5+4 = 20 words
    assert report["wer"] == pytest.approx(2 / 20)


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError, match="4 references but 3 predictions"):
        command_acceptance_rate(REFERENCES, PREDICTIONS[:3])
    with pytest.raises(ValueError, match="no commands"):
        speech_to_intent_report([], [])
