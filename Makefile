# Set-up and entry points. `make demo` and `make test` each create/update the virtual environment.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# the CPU build of torch; a looser pin may pull a multi-GB CUDA build
TORCH_PIN ?= torch==2.13.0

.PHONY: venv demo test test-fast bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(VENV)/bin/filteropt demo

test: venv
	$(PY) -m pytest -q

test-fast: venv
	$(PY) -m pytest -q -m "not slow"

bench: venv
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	$(PY) bench/vmaf_accuracy.py
	$(PY) bench/vmaf_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
