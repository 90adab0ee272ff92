"""Speech recognition on pretrained encoder-decoder backbones (Whisper): audio -> transcript.

- `data.py`: transcript manifests (path,transcript[,speaker,split]) and espeak-ng-rendered text
  data -> log-mel features + teacher-forcing token ids (loss on transcript + end tokens).
- `model.py`: `build_speech_recognizer(backbone, audio_frames, train_encoder, train_decoder)`,
  a log-mel -> logits Keras model over the backbone's own layers (short-audio mode, frozen /
  LoRA / full encoder).
- `train.py`: `fit_speech_recognizer` (the shared recipe + the transcript-only loss; encoder
  outputs cached when the encoder is frozen).
- `auto_recipe.py`: `choose_asr_recipe`, the optimizer steps from the number of training clips.
- `windows.py`: `choose_audio_seconds` / `choose_max_tokens`, the encoder window and the most
  decoded tokens from the training clips' durations and transcripts' token counts.
- `decoding.py`: `greedy_transcribe` (the reference decoder, token-for-token equal to
  faster-whisper), `transcribe` / `beam_transcribe` (beam search, vocabulary bias/constraint).
- `vocabulary.py`: the token-prefix trie over domain phrases (numpy only).
- `language_model.py`: `fit_token_language_model`, the domain's text as a token n-gram model
  (`voice_ft.runtime.token_language_model.TokenNgramModel`) fused into beam search.
- `output_vocabulary.py`: `domain_token_ids`, the tokens a closed domain is written with, which a
  recogniser export can keep alone (`export_speech_recognizer(output_token_ids=...)`).
- `metrics.py`: WER and per-utterance edit counts.
- `tiny.py`: a tiny random Whisper with tiny.en's tokenizer, for tests.
"""

from voice_ft.asr.auto_recipe import choose_asr_recipe
from voice_ft.asr.data import (
    SpeechData,
    TranscribedAudio,
    load_speech,
    read_transcript_manifest,
    synthesize_transcripts,
)
from voice_ft.asr.decoding import Transcription, beam_transcribe, greedy_transcribe, transcribe, transcribe_features
from voice_ft.asr.language_model import fit_token_language_model, read_domain_sentences
from voice_ft.asr.metrics import EditCounts, edit_counts, wer_report, word_error_rate
from voice_ft.asr.model import build_speech_recognizer
from voice_ft.asr.output_vocabulary import domain_token_ids
from voice_ft.asr.train import fit_speech_recognizer
from voice_ft.asr.vocabulary import PhraseTrie
from voice_ft.asr.windows import choose_audio_seconds, choose_max_tokens

__all__ = [
    "EditCounts", "PhraseTrie", "SpeechData", "Transcription", "TranscribedAudio", "beam_transcribe",
    "build_speech_recognizer", "choose_asr_recipe", "choose_audio_seconds", "choose_max_tokens", "domain_token_ids",
    "edit_counts", "fit_token_language_model",
    "fit_speech_recognizer", "greedy_transcribe", "load_speech", "read_domain_sentences", "read_transcript_manifest",
    "synthesize_transcripts",
    "transcribe", "transcribe_features", "wer_report", "word_error_rate",
]
