"""Speech-to-intent from a grammar: a fine-tuned Whisper recogniser chained with a joint NLU model.

- `train.py`: `build_speech_to_intent`, `fit_speech_to_intent` (sample the grammar, train and
  export both halves, write the grammar values, evaluate the chained TF-free pipeline);
- `grammar_values.py`: the small JSON mapping spoken slot phrases to the grammar's values;
- `metrics.py`: command acceptance rate, intent accuracy, slot-value F1, WER.

The phone side is `voice_ft.runtime.SpeechToIntent`.
"""

from voice_ft.speech_to_intent.grammar_values import grammar_values, write_grammar_values
from voice_ft.speech_to_intent.metrics import Command, command_acceptance_rate, speech_to_intent_report
from voice_ft.speech_to_intent.train import build_speech_to_intent, fit_speech_to_intent

__all__ = ["Command", "build_speech_to_intent", "command_acceptance_rate", "fit_speech_to_intent", "grammar_values",
           "speech_to_intent_report", "write_grammar_values"]
