# witnessbox: two commands for a fresh machine with Python 3.11+: `make demo`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
PIP_FLAGS ?= -q --disable-pip-version-check

.PHONY: demo test bench lint install install-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PIP) install $(PIP_FLAGS) -e .
	-$(VENV)/bin/python -m witnessbox.redact.quantize  # the int8 face detector, made once (else on first use)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install $(PIP_FLAGS) -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/witnessbox demo demo-output

lint: $(VENV)/.installed-test
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src/witnessbox

test: $(VENV)/.installed-test lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info demo-output
