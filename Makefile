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

.PHONY: install run test build bench bench-startup bench-ask train reliability clean

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

# the index `make run` serves (a folder, or milvus:PATH.db / milvus://HOST:PORT[/NAME])
INDEX   ?= $(or $(CORPUS_INDEX),indexes/default)
# `make run SOURCES="DIR ..."` first makes the index hold exactly those folders (incrementally:
# what it held from other sources, the seed included, is dropped; name several to keep them)
SOURCES ?=
PORT    ?= 7860

build: install
	$(CORPUS) build $(or $(SOURCES),seeds/) --index $(INDEX)

# serves the index as it is; builds it over seeds/ only when there is none yet (or over
# SOURCES when given); the chat is at http://127.0.0.1:$(PORT)
run: install
	@if [ -n "$(SOURCES)" ]; then $(CORPUS) build $(SOURCES) --index "$(INDEX)"; \
	elif ! $(CORPUS) info --index "$(INDEX)" >/dev/null 2>&1; then $(CORPUS) build seeds/ --index "$(INDEX)"; \
	else echo "serving $(INDEX) as it is (make run SOURCES=DIR builds DIR into it)"; fi
	$(CORPUS) serve --index "$(INDEX)" --host 127.0.0.1 --port $(PORT)

test: install
	$(PY) -m pytest

# timings are measured here, never asserted in tests; figures go to bench/results/
bench: install
	$(PY) bench/run.py --sizes $(SIZES) $(if $(BACKENDS),--backends $(BACKENDS))

# only the cold commands (corpus search, corpus ask) and the chat's first answer
bench-startup: install
	$(PY) bench/run.py --startup-only

# only the answers over the BBC index: p50/p95 and where their time goes, stage by stage
bench-ask: install
	$(PY) bench/run.py --ask-only

# fuzzing, crash trials, load, memory over rebuilds, hostile sources, security (about half an hour);
# figures go to bench/results/reliability.json and .md
reliability: install
	$(PY) bench/reliability/run.py

# the answer models (qa/answer/model.json) from SQuAD 2.0 and the BBC development questions
train: install
	$(PY) -m qa.eval.train

clean:
	rm -rf $(VENV) indexes/default indexes/eval
