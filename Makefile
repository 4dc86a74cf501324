# One-command entry points that work on a fresh machine. `make install` creates .venv and installs
# the exact dependency set of requirements.lock (the one the tests passed with), then the project
# itself without resolving anything; it re-runs when the lock or pyproject.toml changes.
# `make lock` regenerates the lock on purpose (uv's universal resolver: one file, with markers, for
# every Python >= 3.10 and platform); nothing else changes it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.svae-tts-installed
LOCK := requirements.lock
PIP_VERSION := 26.3
UV_VERSION := 0.13.9

.PHONY: install lock test demo clean-venv

install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check pip==$(PIP_VERSION)
	$(PY) -m pip install -q -r $(LOCK)
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	UV_PYTHON_DOWNLOADS=never $(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal \
		--python-version 3.10 -c lock-constraints.txt --custom-compile-command "make lock" --quiet -o $(LOCK)

test: $(STAMP)
	$(PY) -m svae_tts.native_check
	$(PY) -m pytest -q tests

demo: $(STAMP)
	$(VENV)/bin/svae-tts demo --out runs/demo $(DEMO_ARGS)

clean-venv:
	rm -rf $(VENV)
