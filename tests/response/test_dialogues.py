"""SGD dialogues -> (context -> system response) pairs, and users' own JSONL pairs."""

import json

import pytest

from voice_ft.response.data import read_response_jsonl, sgd_dir, sgd_response_pairs, to_prompt_response
from voice_ft.runtime.errors import DataError
from voice_ft.runtime.prompt_template import PromptTemplate

DIALOGUE = {
    "dialogue_id": "d1",
    "services": ["Alarm_1"],
    "turns": [
        {"speaker": "user", "text": "Set an  alarm please.", "intents": ["AddAlarm"]},
        {"speaker": "system", "text": "For what time?", "acts": ["REQUEST(alarm_time)"]},
        {"speaker": "user", "text": "7 am.", "intents": ["AddAlarm"]},
        {"speaker": "system", "text": "Done, alarm set for 7 am.", "acts": ["NOTIFY_SUCCESS"]},
    ],
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_every_system_turn_becomes_a_pair_with_its_history(tmp_path):
    pairs = sgd_response_pairs(str(write_jsonl(tmp_path / "d.jsonl", [DIALOGUE])))
    assert [p.response for p in pairs] == ["For what time?", "Done, alarm set for 7 am."]
    assert pairs[0].context == (("user", "Set an alarm please."),)
    assert pairs[1].context == (("user", "Set an alarm please."), ("assistant", "For what time?"), ("user", "7 am."))
    assert pairs[1].intent == "AddAlarm" and pairs[1].acts == ("NOTIFY_SUCCESS",)
    assert pairs[1].source == "d1#3"
    prompt, response = to_prompt_response(pairs[1:], PromptTemplate())[0]
    assert prompt.endswith("User: 7 am.\n[intent: AddAlarm]\nAssistant:") and response == "Done, alarm set for 7 am."


def test_bundled_sgd_subset_is_in_the_repo():
    assert (sgd_dir() / "README.md").exists()
    pairs = sgd_response_pairs("validation", max_dialogues=5)
    assert len(pairs) > 20 and all(p.response and p.context[-1][0] == "user" for p in pairs)


def test_bad_dialogue_line_names_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(DIALOGUE) + "\n" + json.dumps({"turns": [{"speaker": "bot"}]}) + "\n")
    with pytest.raises(DataError, match=r"d\.jsonl:2: turn 0"):
        sgd_response_pairs(str(path))


def test_reads_prompt_response_and_context_records(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", [
        {"prompt": "Turn on the lights", "response": "Lights are on."},
        {"context": ["Is it cold?", "It is 3 degrees.", "Then heat up"], "response": "Heating to 21.",
         "intent": "SetTemperature", "slots": {"temperature": "21"}},
    ])
    first, second = read_response_jsonl(path)
    assert first.context == (("user", "Turn on the lights"),) and first.source.endswith("mine.jsonl:1")
    assert second.context[1] == ("assistant", "It is 3 degrees.") and dict(second.slots) == {"temperature": "21"}
    assert "temperature=21" in second.prompt(PromptTemplate())


@pytest.mark.parametrize("row,message", [
    ({"prompt": "hi", "response": ""}, "'response' must be a non-empty string"),
    ({"prompt": "hi"}, "'response' must be a non-empty string"),
    ({"response": "ok"}, "needs a non-empty 'prompt'"),
    ({"prompt": "hi", "response": "ok", "slots": ["x"]}, "'slots' must be an object"),
    ({"context": [{"speaker": "robot", "text": "x"}], "response": "ok"}, "unknown speaker"),
])
def test_bad_user_rows_name_file_and_line(tmp_path, row, message):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"prompt": "fine", "response": "fine"}, row])
    with pytest.raises(DataError, match=r"mine\.jsonl:2: .*" + message.replace("(", r"\(")):
        read_response_jsonl(path)


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{oops\n')
    with pytest.raises(DataError, match=r"mine\.jsonl:2"):
        read_response_jsonl(path)
