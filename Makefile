# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
CORPUS := $(VENV)/bin/corpus
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run test build bench train reliability clean

SIZES ?= 10k

install: $(STAMP)

# torch goes in first and alone, so nothing that depends on it can pull a
# CUDA build; constraints.txt keeps it pinned for everything after.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt "torch==2.13.0"
	$(PIP) install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

build: install
	$(CORPUS) build seeds/

# builds (or updates) the index over seeds/, then serves the chat at http://127.0.0.1:7860
run: build
	$(CORPUS) serve --host 127.0.0.1 --port 7860

test: install
	$(PY) -m pytest

# timings are measured here, never asserted in tests; figures go to bench/results/
bench: install
	$(PY) bench/run.py --sizes $(SIZES)

# fuzzing, crash trials, load, memory over rebuilds, hostile sources, security (about half an hour);
# figures go to bench/results/reliability.json and .md
reliability: install
	$(PY) bench/reliability/run.py

# the answer models (qa/answer/model.json) from SQuAD 2.0 and the BBC development questions
train: install
	$(PY) -m qa.train

clean:
	rm -rf $(VENV) indexes/default indexes/eval
