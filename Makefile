# One-command entry points that work on a fresh machine: each creates .venv and installs the
# project into it when missing (or when pyproject.toml changed since the last install).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.svae-tts-installed

.PHONY: install test demo clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(VENV)/bin/svae-tts demo --out runs/demo $(DEMO_ARGS)

clean-venv:
	rm -rf $(VENV)
