# The two commands of the README:   make book   |   make test
# Both create or refresh .venv from requirements.txt themselves.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.segmath-env

.PHONY: env book test lint unit unit-fast notebooks browser-check bench lab clean

$(STAMP): requirements.txt requirements-oracles.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-oracles.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

env: $(STAMP)

# Build the online book into _build/html (executes every chapter; cached; warnings are errors).
book: env
	$(PY) tools/book.py build

# Every test: the linter, unit tests, the notebooks through nbval, the book build and the browser check.
test: lint unit notebooks browser-check

# ruff with the rules in pyproject.toml (defects, not style).
lint: env
	$(VENV)/bin/ruff check .

unit: env
	$(PY) -m pytest -q -n 2 tests

# The edit-test loop: every test not marked slow (well under a minute on 2 cores).
unit-fast: env
	$(PY) -m pytest -q -n 2 -m "not slow" tests

# All notebooks, or one: make notebooks NB=notebooks/lab_boundary.ipynb
NB ?= notebooks
notebooks: env
	$(PY) -m pytest -q -p no:randomly --nbval $(NB) --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg

browser-check: book
	$(PY) tools/book.py check

bench: env
	$(PY) benchmarks/losses.py

# JupyterLab on the repository (the book's chapters and the notebooks) with the project's environment;
# the chapters (MyST markdown) open as notebooks through jupytext, with the settings in binder/jupyter
# (the ones Binder uses).  Extra options: make lab LAB_ARGS="--no-browser --port=8890"
LAB_ARGS ?=
lab: env
	JUPYTER_CONFIG_PATH="$(CURDIR)/binder/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS)

clean:
	rm -rf _build
