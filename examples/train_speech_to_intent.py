"""Train an on-device speech-to-intent pair from a grammar: Whisper recogniser + joint intent/slot NLU.

    python examples/train_speech_to_intent.py --grammar=data/grammars/smart_home.yml --run_dir=runs/smart_home
    # clips of your own (columns path,text,split,label,slots), LoRA on the encoder:
    python examples/train_speech_to_intent.py --grammar=my.yml --manifest=clips/manifest.csv --train_encoder=lora ...

The grammar's sentences (split by expression) train the NLU model on text; espeak-ng renders them
(voice-disjoint splits) and the recogniser is fine-tuned on the speech, and on short lists of the grammar's
words that no training sentence says (`--unheard_word_repeats`, 10 times each; espeak-ng renders them with
`--manifest` too; 0: none). run_dir then holds what a phone needs, read by
`voice_ft.runtime.SpeechToIntent.from_dir(run_dir)` without TensorFlow:
speech_recognizer{.json,_encoder.tflite,_decoder.tflite,...}, nlu.tflite (+ nlu.json, vocab.txt),
grammar_values.json; plus config.json and metrics.json (on the test clips, through that runtime:
command acceptance rate, intent accuracy, slot F1, WER). It refuses to overwrite a finished run.
"""

from __future__ import annotations

import json

from absl import app, flags

from voice_ft.training.interrupt import exit_on_interrupt
from voice_ft.speech_to_intent.train import ASR_RECIPE, NLU_RECIPE

FLAGS = flags.FLAGS
flags.DEFINE_string("grammar", None, "Rhino-style grammar YAML, or a bundled grammar's name (smart_home, timers).")
flags.DEFINE_string("run_dir", None, "Output directory.")
flags.DEFINE_string("recognizer_backbone", "whisper-tiny-en", "whisper-tiny-en, a Whisper preset folder, or tiny-whisper (tests).")
flags.DEFINE_string("nlu_backbone", "all-minilm-l6-v2", "Text encoder for the NLU: packaged name, preset dir or HF folder.")
flags.DEFINE_integer("per_expression", 20, "Sentences sampled per grammar expression.")
flags.DEFINE_enum("split_by", "expression", ["expression", "sentence"], "Test sentences from expressions never "
                  "trained on (expression), or new sayings of trained expressions (sentence).")
flags.DEFINE_string("manifest", None, "Clips to use instead of rendering: CSV path,text,split,label,slots.")
flags.DEFINE_string("audio_dir", None, "Where rendered audio goes (reused if present); default <run_dir>/audio.")
flags.DEFINE_string("general_speech", None, "Manifest of other speech (path,transcript or path,text; split train or "
                    "none) that also trains the recogniser, so that it keeps general English beside the grammar's wording.")
flags.DEFINE_integer("unheard_word_repeats", 10, "Times each grammar word that no training sentence says is spoken in "
                     "short word lists by training voices, for the recogniser (0: none).")
flags.DEFINE_integer("renditions", 2, "Voices speaking each training sentence.")
flags.DEFINE_integer("noisy_copies", 2, "Noisy copies (white/brown noise, 0-20 dB SNR) of each training clip for the recogniser.")
flags.DEFINE_float("audio_seconds", 3.0, "Recogniser window in seconds (short-audio mode); 30 = Whisper's standard.")
flags.DEFINE_enum("train_encoder", "frozen", ["frozen", "top", "lora", "full"], "What of the Whisper encoder trains.")
flags.DEFINE_integer("encoder_top_layers", 1, "With --train_encoder=top, how many of the last encoder layers train.")
flags.DEFINE_enum("train_decoder", "full", ["full", "layers", "lora"], "What of the Whisper decoder trains (layers: "
                  "all but its token and position embeddings).")
flags.DEFINE_integer("lora_rank", 8, "LoRA rank where LoRA is chosen.")
flags.DEFINE_integer("asr_epochs", ASR_RECIPE["epochs"], "Recogniser training epochs.")
flags.DEFINE_float("asr_learning_rate", ASR_RECIPE["learning_rate"], "Recogniser peak learning rate.")
flags.DEFINE_integer("nlu_epochs", NLU_RECIPE["epochs"], "NLU training epochs.")
flags.DEFINE_float("nlu_learning_rate", NLU_RECIPE["learning_rate"], "NLU peak learning rate.")
flags.DEFINE_integer("batch_size", ASR_RECIPE["batch_size"], "Batch size of both halves.")
flags.DEFINE_integer("sequence_length", 32, "NLU word pieces per utterance, [CLS]/[SEP] included.")
flags.DEFINE_bool("crf", False, "CRF slot layer in the NLU model.")
flags.DEFINE_bool("calibrate", True, "Fit the NLU's 'I didn't understand' threshold on the validation sentences.")
flags.DEFINE_float("reject_rate", 0.05, "Fraction of in-scope validation sentences the threshold rejects.")
flags.DEFINE_enum("nlu_quantization", "float32", ["float32", "float16", "dynamic", "int8"], "NLU .tflite variant.")
flags.DEFINE_enum("recognizer_quantization", "float32", ["float32", "dynamic"], "Recogniser .tflite variant "
                  "(dynamic: int8 weights).")
flags.DEFINE_enum("recognizer_vocabulary", "grammar", ["grammar", "full"], "Tokens the exported recogniser can write: "
                  "the grammar's words (a decoder a fraction of the size) or all of Whisper's.")
flags.DEFINE_integer("max_tokens", 32, "Most tokens the recogniser decodes per clip.")
flags.DEFINE_integer("max_eval", 0, "Score at most this many test clips (0 = all).")
flags.DEFINE_integer("seed", 0, "Seed of sampling, rendering and training.")
flags.DEFINE_bool("overwrite", False, "Replace a finished run.")
flags.register_validator("per_expression", lambda v: v >= 1, message="--per_expression must be >= 1")
flags.register_validator("renditions", lambda v: v >= 1, message="--renditions must be >= 1")
flags.register_validator("noisy_copies", lambda v: v >= 0, message="--noisy_copies must be >= 0")
flags.register_validator("unheard_word_repeats", lambda v: v >= 0, message="--unheard_word_repeats must be >= 0")
flags.register_validator("audio_seconds", lambda v: 0.02 <= v <= 30, message="--audio_seconds must be in [0.02, 30]")
flags.register_validator("lora_rank", lambda v: v >= 1, message="--lora_rank must be >= 1")
for _name in ("asr_epochs", "nlu_epochs", "batch_size", "max_tokens"):
    flags.register_validator(_name, lambda v: v >= 1, message=f"--{_name} must be >= 1")
for _name in ("asr_learning_rate", "nlu_learning_rate"):
    flags.register_validator(_name, lambda v: v > 0, message=f"--{_name} must be > 0")
flags.register_validator("sequence_length", lambda v: v >= 4, message="--sequence_length must be >= 4")
flags.register_validator("reject_rate", lambda v: 0.0 <= v < 1.0, message="--reject_rate must be in [0, 1)")
flags.register_validator("max_eval", lambda v: v >= 0, message="--max_eval must be >= 0")
flags.register_validator("encoder_top_layers", lambda v: v >= 1, message="--encoder_top_layers must be >= 1")
flags.mark_flags_as_required(["grammar", "run_dir"])


def load_recognizer_backbone():
    import voice_ft

    if FLAGS.recognizer_backbone == "tiny-whisper":
        from voice_ft.asr.tiny import tiny_whisper_backbone

        return tiny_whisper_backbone(seed=FLAGS.seed)
    return voice_ft.load_backbone(FLAGS.recognizer_backbone)


def main(argv):
    del argv
    import voice_ft
    from voice_ft.data.files import prepare_run_dir, record_run_config
    from voice_ft.data.grammar import read_grammar
    from voice_ft.evaluation import reports
    from voice_ft.speech_to_intent.train import fit_speech_to_intent

    run_dir = prepare_run_dir(FLAGS.run_dir, overwrite=FLAGS.overwrite, results=("metrics.json",))
    grammar = read_grammar(FLAGS.grammar)  # a bad grammar fails here, naming the file and line
    asr_recipe = voice_ft.Recipe(epochs=FLAGS.asr_epochs, batch_size=FLAGS.batch_size,
                                 learning_rate=FLAGS.asr_learning_rate, seed=FLAGS.seed)  # fmt: skip
    nlu_recipe = voice_ft.Recipe(epochs=FLAGS.nlu_epochs, batch_size=FLAGS.batch_size,
                                 learning_rate=FLAGS.nlu_learning_rate, seed=FLAGS.seed)  # fmt: skip
    frames = None if FLAGS.audio_seconds >= 30 else round(FLAGS.audio_seconds * 100)
    settings = {name: FLAGS[name].value for name in (
        "grammar", "recognizer_backbone", "nlu_backbone", "per_expression", "split_by", "manifest", "general_speech", "unheard_word_repeats", "renditions", "noisy_copies", "audio_seconds",
        "train_encoder", "encoder_top_layers", "train_decoder", "lora_rank", "sequence_length", "crf", "calibrate", "reject_rate",
        "nlu_quantization", "recognizer_quantization", "recognizer_vocabulary", "max_tokens", "max_eval", "seed")}  # fmt: skip
    record_run_config(run_dir, {"task": "speech_to_intent", **settings, "audio_frames": frames,
                                "asr_recipe": asr_recipe.to_dict(), "nlu_recipe": nlu_recipe.to_dict(),
                                "intents": list(grammar.intents)})  # fmt: skip
    result = fit_speech_to_intent(
        grammar, load_recognizer_backbone(), voice_ft.load_backbone(FLAGS.nlu_backbone), run_dir,
        per_expression=FLAGS.per_expression, seed=FLAGS.seed, split_by=FLAGS.split_by, manifest=FLAGS.manifest, audio_dir=FLAGS.audio_dir,
        renditions=FLAGS.renditions, noisy_copies=FLAGS.noisy_copies, general_speech=FLAGS.general_speech,
        unheard_word_repeats=FLAGS.unheard_word_repeats, audio_frames=frames, train_encoder=FLAGS.train_encoder,
        train_decoder=FLAGS.train_decoder, lora_rank=FLAGS.lora_rank, encoder_top_layers=FLAGS.encoder_top_layers,
        asr_recipe=asr_recipe, nlu_recipe=nlu_recipe,
        sequence_length=FLAGS.sequence_length, crf=FLAGS.crf, calibrate=FLAGS.calibrate,
        reject_rate=FLAGS.reject_rate or None, nlu_quantization=FLAGS.nlu_quantization,
        recognizer_quantization=FLAGS.recognizer_quantization, recognizer_vocabulary=FLAGS.recognizer_vocabulary,
        max_tokens=FLAGS.max_tokens,
        max_eval=FLAGS.max_eval or None, overwrite=FLAGS.overwrite, verbose=2,
    )  # fmt: skip
    samples = [{"reference": {"intent": r.intent, "slots": dict(r.slots), "transcript": r.transcript},
                "predicted": {k: p[k] for k in ("intent", "slots", "transcript", "not_understood", "reason", "decoding")}}
               for r, p in zip(result.references, result.predictions)][:20]  # fmt: skip
    reports.write_json(run_dir / "metrics.json", {**result.metrics, "samples": samples})
    test = result.metrics["test"]
    print(f"Speech-to-intent on {test['num_commands']} test clips: command acceptance rate "
          f"{test['command_acceptance_rate']:.4f}, intent accuracy {test['intent_accuracy']:.4f}, "
          f"slot F1 {test['slot_f1']:.4f}, WER {test['wer']:.4f}, not understood {test['not_understood_rate']:.4f}")
    print(json.dumps({"run_dir": str(run_dir), **{k: test[k] for k in ("command_acceptance_rate", "wer")}}))


if __name__ == "__main__":
    app.run(exit_on_interrupt(main))
