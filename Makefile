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

# Every benchmark at reduced rounds and sizes, each under its own time budget (about 15 minutes in all on a
# loaded 2-core machine); tables to $(BENCH_OUT) (default _build/bench: the full-size tables in
# benchmarks/results/ come from each script's own command, recorded in its header line).  Every table must
# carry that header line (machine, load average, torch version, command); a step that fails or overruns is
# reported and counted in the exit status.   make bench BENCH_OUT=/tmp/bench
BENCH_OUT ?= _build/bench
bench: env
	@mkdir -p $(BENCH_OUT); failed=0; \
	step() { budget=$$1; name=$$2; shift 2; s=$$SECONDS; echo "== $$name (budget $${budget}s): $$*"; \
	    timeout $$budget "$$@" > $(BENCH_OUT)/$$name.log 2>&1; rc=$$?; \
	    if [ $$rc -ne 0 ]; then failed=$$((failed + 1)); echo "!! $$name: exit status $$rc (124: out of time), see $(BENCH_OUT)/$$name.log"; fi; \
	    echo "   $$name took $$((SECONDS - s))s"; }; \
	step 240 losses $(PY) benchmarks/losses.py --device cpu --rounds 3 --shape 2,19,128,128 --no-memory --out $(BENCH_OUT)/losses_cpu.md; \
	step 180 distances $(PY) benchmarks/distances.py --rounds 2 --size 48 --out $(BENCH_OUT)/distances_cpu.md; \
	step 240 instances $(PY) benchmarks/instances.py --rounds 1 --no-memory --out $(BENCH_OUT)/instances_cpu.md; \
	step 90 postprocess $(PY) benchmarks/postprocess.py --rounds 1 --scale 0.5 --out $(BENCH_OUT)/postprocess_cpu.md; \
	step 90 evaluate $(PY) benchmarks/evaluate.py --cases 60 --rounds 1 --out $(BENCH_OUT)/evaluate_cpu.md; \
	step 60 widgets $(PY) benchmarks/widgets.py --steps 4 --out $(BENCH_OUT)/widgets_cpu.md; \
	for t in losses distances instances postprocess evaluate widgets; do f=$(BENCH_OUT)/$${t}_cpu.md; \
	    if [ ! -s $$f ]; then echo "!! $$f: no table"; failed=$$((failed + 1)); continue; fi; \
	    for field in "load average" "torch 2" "python benchmarks/$$t.py" "cores"; do \
	        grep -q "$$field" $$f || { echo "!! $$f: header lacks '$$field'"; failed=$$((failed + 1)); }; done; done; \
	echo "bench: tables in $(BENCH_OUT), $$failed problem(s)"; exit $$failed

# JupyterLab on the repository (the book's chapters and the notebooks) with the project's environment;
# the chapters (MyST markdown) open as notebooks through jupytext, with the settings in binder/jupyter
# (the ones Binder uses).  Extra options: make lab LAB_ARGS="--no-browser --port=8890"
LAB_ARGS ?=
lab: env
	JUPYTER_CONFIG_PATH="$(CURDIR)/binder/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(VENV)/bin/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(LAB_ARGS)

clean:
	rm -rf _build
