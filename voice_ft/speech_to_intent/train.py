"""Training a speech-to-intent pair from a grammar: sample, train NLU + recogniser, export, evaluate.

`fit_speech_to_intent(grammar, recognizer_backbone, nlu_backbone, run_dir)`:

1. samples the grammar (`voice_ft.data.grammar_sampling.from_grammar`: split by expression, so
   test sentences come from expressions never trained on, or by sentence, so every expression is
   trained on and test sentences are new sayings of them: `split_by`);
2. renders the sentences with espeak-ng (voice-disjoint splits, `synthesize_text_splits`), or
   reads a manifest of that shape and checks its files, and renders the grammar words that no training
   clip says in short lists (`unheard_word_repeats`, `unheard_words.py`): all before any training, so
   that bad clips or a missing espeak-ng fail first;
3. trains the joint intent + slot model on the sentences' words, normalised as the phone
   normalises transcripts (`normalize_example`), calibrates its "I didn't understand" threshold
   on the validation sentences and exports `nlu.tflite` (+ sidecar, vocabulary); then fine-tunes
   the Whisper recogniser on the clips with `fit_speech_recognizer` (its own encoder/decoder/LoRA
   options; the training clips also come mixed with noise, `noisy_copies`; `general_speech`, clips
   of other sentences, can join its training so that its decoder does not learn the grammar's
   wording as the only English there is, and the unheard-word lists join it too), then exports it
   (`speech_recognizer_*.tflite` + sidecar, verified against Keras on a few test clips). By default
   the export writes only the grammar's tokens (`recognizer_vocabulary="grammar"`,
   `voice_ft.asr.output_vocabulary`): the decoder keeps a few hundred of Whisper's 51,864 embedding
   rows, which makes it a fraction of the size and each decoding step cheaper;
4. writes `grammar_values.json` (`grammar_values.write_grammar_values`): the slot phrases' canonical
   values and each intent's word automaton, with which the phone takes only transcripts that are
   sayings of the grammar (`SpeechToIntent`: a clip whose free transcript is not one is decoded again
   inside the grammar, and refused where that is unlikely; a saying the NLU misreads is read by the
   grammar's slot-tagged automaton);
5. runs the TF-free `voice_ft.runtime.SpeechToIntent` over the test clips and scores it
   (`metrics.speech_to_intent_report`: command acceptance rate, intent accuracy, slot F1, WER).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import pathlib

from absl import logging

from voice_ft.speech_to_intent.grammar_values import write_grammar_values
from voice_ft.speech_to_intent.metrics import Command, speech_to_intent_report
from voice_ft.speech_to_intent.unheard_words import unheard_words, word_lists

SPLITS = ("train", "validation", "test")
# The recipes `fit_speech_to_intent` uses when given none, and the defaults of the trainer's and the bench's flags:
# what bench/speech_to_intent.py measures. Kept in one place (the three copies had drifted: 1e-5 against 5e-5).
ASR_RECIPE = {"epochs": 3, "batch_size": 16, "learning_rate": 5e-5}
NLU_RECIPE = {"epochs": 5, "batch_size": 16, "learning_rate": 1e-4}
RECOGNIZER_VOCABULARIES = ("grammar", "full")


@dataclasses.dataclass
class SpeechToIntentModels:
    """The two trainable halves: a `build_speech_recognizer` model and a joint NLU model."""

    recognizer: object
    nlu: object
    recognizer_backbone: object


def build_speech_to_intent(recognizer_backbone, nlu_backbone, intents, slot_tags, audio_frames: int | None = 300,
                           train_encoder: str = "frozen", train_decoder: str = "full", lora_rank: int = 8,
                           sequence_length: int = 32, crf: bool = False,
                           encoder_top_layers: int = 1) -> SpeechToIntentModels:  # fmt: skip
    """Builds both models: the recogniser as `build_speech_recognizer` takes its options, the NLU as
    `build_joint_nlu_model` (`intents` / `slot_tags` from `from_grammar`)."""
    from voice_ft.asr.model import build_speech_recognizer
    from voice_ft.nlu.model import build_joint_nlu_model

    recognizer = build_speech_recognizer(recognizer_backbone, audio_frames, train_encoder, train_decoder, lora_rank,
                                         encoder_top_layers=encoder_top_layers)  # fmt: skip
    nlu = build_joint_nlu_model(nlu_backbone, intents, slot_tags, crf=crf, sequence_length=sequence_length)
    return SpeechToIntentModels(recognizer, nlu, recognizer_backbone)


def normalize_example(example):
    """The example with its words as `SpeechToIntent` feeds transcripts to the NLU (lowercase, no
    punctuation); a word that splits keeps its tag on the first part and I- on the rest."""
    from voice_ft.runtime.words import normalize_words

    tokens, tags = [], []
    for token, tag in zip(example.tokens, example.tags):
        words = normalize_words(token)
        if not words:
            continue
        tokens += words
        tags += [tag] + [tag if tag == "O" else "I-" + tag[2:]] * (len(words) - 1)
    for i, tag in enumerate(tags):  # a dropped B- leaves an I- that starts the entity
        if tag.startswith("I-") and (i == 0 or tags[i - 1][2:] != tag[2:]):
            tags[i] = "B-" + tag[2:]
    return dataclasses.replace(example, tokens=tuple(tokens), tags=tuple(tags))


@dataclasses.dataclass
class SpeechToIntentResult:
    """Where everything went and how the chained pipeline scored on the test clips."""

    run_dir: pathlib.Path
    metrics: dict
    predictions: list[dict]
    references: list[Command]
    test_clips: list[str]  # the audio files of `references`, in order


def read_speech_manifest(path: str | os.PathLike):
    """(records, commands) of a manifest shaped like `synthesize_text_splits` writes for grammar
    sentences: columns path, text, split, label (intent) and slots (JSON {name: canonical value})."""
    from voice_ft.asr.data import TranscribedAudio
    from voice_ft.data.audio_readers import read_manifest_rows
    from voice_ft.runtime.errors import DataError

    path = pathlib.Path(path)
    records, commands = [], []
    for line, row in read_manifest_rows(path, ("path", "text", "split", "label", "slots")):
        try:
            slots = json.loads(row["slots"] or "{}")
        except ValueError:
            raise DataError(f"slots is not JSON: {row['slots']!r}", path, line) from None
        if not isinstance(slots, dict):
            raise DataError(f"slots must be a JSON object {{name: value}}, got {row['slots']!r}", path, line)
        text = " ".join(row["text"].split())
        records.append(TranscribedAudio(str(path.parent / row["path"].strip()), text, row.get("speaker") or None,
                                        row["split"].strip(), f"{path}:{line}"))  # fmt: skip
        commands.append(Command(row["label"].strip(), slots, text))
    return records, commands


def read_general_speech(source) -> list:
    """`TranscribedAudio` records of other speech for the recogniser's training: a list of them, or a manifest
    with columns path and transcript (or text, as `synthesize_text_splits` writes). Rows of a split other than
    train are left out, so a rendered data set's held-out voices stay held out."""
    from voice_ft.asr.data import TranscribedAudio, read_transcript_manifest
    from voice_ft.runtime.errors import DataError

    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        if not path.is_file():
            raise DataError("general speech manifest does not exist", path)
        with path.open(encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
        records = read_transcript_manifest(path, transcript_column="transcript" if "transcript" in header else "text")
    else:
        records = list(source)
        for i, record in enumerate(records):
            if not isinstance(record, TranscribedAudio):
                raise DataError(f"general_speech item {i} is a {type(record).__name__}; expected a TranscribedAudio")
    records = [r for r in records if r.split in (None, "train")]
    if not records:
        raise DataError("general_speech has no training clips (rows of split 'train' or of no split)",
                        source if isinstance(source, (str, os.PathLike)) else None)
    return records


def within_window(records: list, audio_frames: int | None, what: str = "general-speech") -> list:
    """The extra training records (general speech, unheard-word lists: `what`, for the log and errors) whose clips
    fit the recogniser's window (`audio_frames` of 10 ms; None: 30 s): a clip the window cuts off would teach words it
    does not hold. Reads only the files' headers.

    Raises:
        AudioFileError: a missing or unreadable file, naming it and its manifest line.
        DataError: none of them fits.
    """
    from voice_ft.asr.windows import clip_seconds
    from voice_ft.runtime.errors import DataError
    from voice_ft.runtime.whisper_features import FULL_FRAMES

    if not records:
        return []
    seconds = (audio_frames or FULL_FRAMES) / 100
    fits = clip_seconds(records) <= seconds
    if not fits.any():
        raise DataError(f"none of the {len(records)} {what} clips fits the recogniser's {seconds:g} s window "
                        f"(the first: {records[0].source or records[0].path})")  # fmt: skip
    logging.info("%d of %d %s clips fit the recogniser's %g s window; the rest are left out.",
                 int(fits.sum()), len(records), what, seconds)  # fmt: skip
    return [record for record, fit in zip(records, fits) if fit]


def nlu_export_tolerance(quantization: str, num_test_sentences: int) -> float:
    """Points the NLU `.tflite` may fall below Keras on the test sentences before its export is refused.

    float32 and float16: 0.5, `export_nlu_tflite`'s default. "dynamic" (int8 weights): one test sentence's
    worth or 1 point (the issue's pipeline criterion), whichever is more: a grammar domain has ~100 test
    sentences, so one sentence that flips is already ~1 point. "int8": reported, not refused (100).
    """
    if quantization == "int8":
        return 100.0
    if quantization == "dynamic":
        return max(1.0, 100.0 / max(num_test_sentences, 1) + 1e-6)
    return 0.5


def fit_speech_to_intent(
    grammar,
    recognizer_backbone,
    nlu_backbone,
    run_dir: str | os.PathLike,
    per_expression: int = 20,
    seed: int = 0,
    split_by: str = "expression",
    manifest: str | os.PathLike | None = None,
    audio_dir: str | os.PathLike | None = None,
    renditions: int = 2,
    noisy_copies: int = 2,
    noise_snr_db: tuple[float, float] | None = None,
    general_speech=None,
    unheard_word_repeats: int = 10,
    audio_frames: int | None = 300,
    train_encoder: str = "frozen",
    train_decoder: str = "full",
    lora_rank: int = 8,
    encoder_top_layers: int = 1,
    asr_recipe=None,
    nlu_recipe=None,
    sequence_length: int = 32,
    crf: bool = False,
    calibrate: bool = True,
    reject_rate: float = 0.05,
    nlu_quantization: str = "float32",
    recognizer_quantization: str = "float32",
    recognizer_vocabulary: str = "grammar",
    max_tokens: int = 32,
    verify_clips: int = 2,
    max_eval: int | None = None,
    overwrite: bool = False,
    verbose="auto",
) -> SpeechToIntentResult:
    """Trains, exports and evaluates a speech-to-intent pair; see the module docstring.

    Args:
        grammar: a Rhino-style grammar YAML, a bundled grammar name or a read `Grammar`.
        recognizer_backbone: a Whisper `voice_ft.Backbone` (its weights are fine-tuned in place).
        nlu_backbone: a BERT-style `voice_ft.Backbone` for the joint NLU model.
        run_dir: where the exported files, `grammar_values.json` and training logs go.
        per_expression: sentences sampled per grammar expression.
        split_by: "expression" or "sentence": how `from_grammar` deals sentences to the splits.
        manifest: clips to use instead of rendering (columns path,text,split,label,slots).
        audio_dir: where rendered audio goes (reused when present); default `<run_dir>/audio`.
        renditions: voices speaking each training sentence.
        noisy_copies: more copies of each training clip for the recogniser, mixed with white or
            brown noise at 0-20 dB SNR (`voice_ft.asr.data.load_speech`): it then holds up in noise.
        noise_snr_db: the (low, high) SNR range of those copies; None: `load_speech`'s 0-20 dB.
        general_speech: clips of other sentences (`read_general_speech`: records or a manifest) that train the
            recogniser beside the grammar's, noisy copies too; not the NLU, and not the exported output
            vocabulary, which stays the grammar's. None: the grammar's clips alone.
        unheard_word_repeats: each grammar word that no training clip (nor general speech) says is also said this
            many times in short word lists rendered by the training voices (`unheard_words.word_lists`),
            which train the recogniser only (needs espeak-ng, also with a `manifest`). 0: none.
        audio_frames / train_encoder / train_decoder / lora_rank / encoder_top_layers: the recogniser's
            (`build_speech_recognizer`); `asr_recipe` its `voice_ft.Recipe` (`fit_speech_recognizer`; None:
            `ASR_RECIPE`).
        nlu_recipe / sequence_length / crf: the NLU model's (None: `NLU_RECIPE`).
        calibrate / reject_rate: fit the NLU's rejection threshold so that `reject_rate` of the
            in-scope validation sentences are rejected (None: calibrated confidences only).
        nlu_quantization: the NLU `.tflite` variant.
        recognizer_quantization: the recogniser's, "float32" or "dynamic" (int8 weights).
        recognizer_vocabulary: "grammar" (the export writes only the tokens of the grammar's words and
            of the training transcripts) or "full" (all of Whisper's).
        max_tokens: the most tokens the recogniser decodes per clip.
        verify_clips: test clips the recogniser export is checked against Keras on.
        max_eval: score at most this many test clips (None: all).
    """
    from voice_ft.asr.data import load_speech, read_transcript_manifest
    from voice_ft.asr.export import export_speech_recognizer
    from voice_ft.asr.output_vocabulary import domain_token_ids
    from voice_ft.asr.train import fit_speech_recognizer
    from voice_ft.asr.windows import clip_seconds
    from voice_ft.data.grammar import Grammar, read_grammar
    from voice_ft.data.grammar_sampling import from_grammar
    from voice_ft.data.speech_synthesis import espeak_binary, synthesize_text_splits
    from voice_ft.nlu import train as nlu_train
    from voice_ft.nlu.export import export_nlu_tflite
    from voice_ft.runtime.audio_io import read_audio
    from voice_ft.runtime.speech_to_intent import GRAMMAR_VALUES_FILE, NLU_FILE, RECOGNIZER_PREFIX, SpeechToIntent
    from voice_ft.training import Recipe

    if recognizer_vocabulary not in RECOGNIZER_VOCABULARIES:
        raise ValueError(f"recognizer_vocabulary must be one of {RECOGNIZER_VOCABULARIES}, got {recognizer_vocabulary!r}.")
    if unheard_word_repeats < 0:
        raise ValueError(f"unheard_word_repeats must be >= 0, got {unheard_word_repeats}")
    run_dir = pathlib.Path(run_dir)
    general = read_general_speech(general_speech) if general_speech is not None else []  # before any training
    grammar = grammar if isinstance(grammar, Grammar) else read_grammar(grammar)
    sampled = from_grammar(grammar, per_expression=per_expression, seed=seed, split_by=split_by)
    splits, (intents, slot_tags) = dict(zip(SPLITS, sampled[:3])), sampled[3:]
    for name in ("train", "test"):
        if not splits[name]:
            raise ValueError(f"{grammar.path}: the grammar gives no {name} sentences (give each intent >= 2 expressions).")
    models = build_speech_to_intent(recognizer_backbone, nlu_backbone, intents, slot_tags, audio_frames, train_encoder,
                                    train_decoder, lora_rank, sequence_length, crf, encoder_top_layers)  # fmt: skip
    general = within_window(general, models.recognizer.audio_frames)  # files checked before any training
    run_dir.mkdir(parents=True, exist_ok=True)

    # --- the recogniser's clips, read or rendered before any training (bad files fail first) ---------
    audio_root = pathlib.Path(audio_dir or run_dir / "audio")
    if manifest is not None:
        records, commands = read_speech_manifest(manifest)
        clip_seconds(records)  # every clip readable: a missing one names its manifest line before any training
    else:
        rendered = synthesize_text_splits({name: examples for name, examples in splits.items() if examples},
                                          audio_root, seed=seed, renditions={"train": renditions})
        records, commands = read_speech_manifest(rendered)  # grammar sentences: intents and slot values too
    by_split = {name: [(r, c) for r, c in zip(records, commands) if r.split == name] for name in SPLITS}
    if not by_split["train"] or not by_split["test"]:
        raise ValueError(f"{manifest or 'the rendered manifest'} needs train and test clips (has "
                         f"{ {k: len(v) for k, v in by_split.items()} }).")  # fmt: skip
    frames = models.recognizer.audio_frames
    heard = [r.transcript.split() for r, _ in by_split["train"]] + [r.transcript.split() for r in general]
    unheard = unheard_words(grammar.spoken_words, heard)
    lists = word_lists(unheard, repeats=unheard_word_repeats, seed=seed)
    word_clips = []
    if lists:
        if espeak_binary() is None:
            raise RuntimeError(f"{len(unheard)} grammar words that no training clip says ({', '.join(unheard[:5])}"
                               f"{', ...' if len(unheard) > 5 else ''}) are to be spoken by espeak-ng (unheard_word_repeats="
                               f"{unheard_word_repeats}), which is not installed: apt-get install espeak-ng, or pass "
                               "unheard_word_repeats=0.")  # fmt: skip
        word_manifest = synthesize_text_splits({"train": lists}, audio_root / "unheard_words", seed=seed,
                                               renditions={"train": renditions})  # fmt: skip
        word_clips = within_window(read_transcript_manifest(word_manifest, transcript_column="text"), frames,
                                   "unheard-word")  # fmt: skip
    extra_train = general + word_clips  # after the grammar's clips: the output vocabulary below counts on it

    # --- the NLU half, on text -------------------------------------------------------------
    text = {name: [normalize_example(e) for e in examples] for name, examples in splits.items()}
    nlu_recipe = nlu_recipe or Recipe(**NLU_RECIPE, seed=seed)
    nlu_history = nlu_train.fit_nlu(models.nlu, text["train"], text["validation"] or None, recipe=nlu_recipe,
                                    run_dir=run_dir / "nlu_training", verbose=verbose)  # fmt: skip
    nlu_text = nlu_train.evaluate_nlu(models.nlu, text["test"])
    calibration = None
    if calibrate and text["validation"]:
        calibration = nlu_train.calibrate_nlu(models.nlu, text["validation"], target_in_scope_rejection=reject_rate,
                                              score="max_softmax")  # fmt: skip
    nlu_export = export_nlu_tflite(models.nlu, run_dir / NLU_FILE, quantization=nlu_quantization, verify_on=text["test"],
                                   representative_data=text["train"], tolerance=nlu_export_tolerance(nlu_quantization, len(text["test"])),
                                   overwrite=overwrite, calibration=calibration)  # fmt: skip

    # --- the recogniser half, on speech ------------------------------------------------------
    noise = {"noise_snr_db": tuple(noise_snr_db)} if noise_snr_db is not None else {}
    speech = {name: load_speech(recognizer_backbone, [r for r, _ in pairs] + (extra_train if name == "train" else []),
                                frames, seed=seed, noisy_copies=noisy_copies if name == "train" else 0, **noise)
              for name, pairs in by_split.items() if pairs}  # fmt: skip
    asr_recipe = asr_recipe or Recipe(**ASR_RECIPE, seed=seed)
    asr_result = fit_speech_recognizer(models.recognizer, speech["train"], speech.get("validation"), recipe=asr_recipe,
                                       run_dir=run_dir / "asr_training", verbose=verbose)  # fmt: skip
    test_pairs = by_split["test"][: max_eval or None]
    waves = [read_audio(r.path, 16000) for r, _ in test_pairs]
    output_tokens = None
    if recognizer_vocabulary == "grammar":
        trained = {t for ids in speech["train"].token_ids[: len(by_split["train"])] for t in ids}  # the grammar's clips
        output_tokens = domain_token_ids(recognizer_backbone.tokenizer, grammar.words, keep_ids=trained)
    asr_export = export_speech_recognizer(recognizer_backbone, run_dir / RECOGNIZER_PREFIX, recognizer_quantization,
                                          audio_frames=frames, max_tokens=max_tokens, verify_on=waves[:verify_clips],
                                          overwrite=overwrite, output_token_ids=output_tokens)  # fmt: skip
    write_grammar_values(grammar, run_dir / GRAMMAR_VALUES_FILE, overwrite=overwrite)

    # --- the chained pipeline, TF-free, on the test clips -------------------------------------------
    pipeline = SpeechToIntent(run_dir / RECOGNIZER_PREFIX, run_dir / NLU_FILE, run_dir / GRAMMAR_VALUES_FILE,
                              max_tokens=max_tokens)  # fmt: skip
    predictions = [pipeline(w, 16000) for w in waves]
    references = [c for _, c in test_pairs]
    metrics = {
        "test": speech_to_intent_report(references, predictions),
        "nlu_on_text": nlu_text,
        "nlu_export": nlu_export.to_dict(),
        "asr_export": {"greedy_match": asr_export.greedy_match, "audio_frames": asr_export.audio_frames,
                       "encoder_bytes": asr_export.encoder_bytes, "decoder_bytes": asr_export.decoder_bytes,
                       "quantization": recognizer_quantization,
                       "output_tokens": len(output_tokens) if output_tokens is not None else None},
        "asr_history": asr_result.history, "nlu_history": nlu_history.history, "asr_train_seconds": asr_result.seconds,
        "num_sentences": {name: len(examples) for name, examples in splits.items()},
        "num_clips": {name: len(pairs) for name, pairs in by_split.items()}, "general_speech_clips": len(general),
        "unheard_words": len(unheard), "unheard_word_clips": len(word_clips),
        "intents": list(intents), "slot_tags": list(slot_tags),
        "calibration": calibration.report if calibration is not None else None,
    }  # fmt: skip
    logging.info("Speech-to-intent on %d test clips: %s", len(references), metrics["test"])
    return SpeechToIntentResult(run_dir, metrics, predictions, references, [r.path for r, _ in test_pairs])
