# ReLU Networks, Reproduced. `make book` and `make test` do everything on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# One BLAS/OpenMP thread: deterministic, and fastest for the small models of this book.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export MALLOC_MMAP_THRESHOLD_ := 268435456
export MALLOC_TRIM_THRESHOLD_ := 268435456
export PYDEVD_DISABLE_FILE_VALIDATION := 1
CH ?= 01
PROFILE ?= smoke
# pytest-xdist workers of the unit, smoke and nbval steps (TEST_JOBS=0: one process).
TEST_JOBS ?= 2

.PHONY: help install book html pages figures chapter test unit smoke nbval fresh browser-deps browser bench clean

help:
	@echo "make book     install, re-execute stale chapters (full), build _build/html"
	@echo "make test     the whole test suite (what CI runs)"
	@echo "make figures  re-execute every chapter at profile=full and commit-ready outputs"
	@echo "make chapter CH=01 PROFILE=smoke   run one chapter"
	@echo "make bench    time the INR training steps (writes benchmarks/results/inr_step.json)"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	@touch $@

install: $(STAMP)

book: install
	$(BIN)/relubook run stale --profile full
	$(MAKE) --no-print-directory html
	@echo "The book is at file://$(CURDIR)/_build/html/index.html"

pages: install
	$(BIN)/relubook pages

# MathJax 3.2.2 is served from the build (_build/html/_static/mathjax, copied there by the pinned
# PyPI package sphinx-mathjax-offline), so the book shows its math offline. Without the package
# the build stops with the command that installs it; it never falls back to a CDN.
MATHJAX_JS := _build/html/_static/mathjax/tex-chtml.js

html: pages
	@$(BIN)/python -c "import importlib; importlib.import_module('sphinx-mathjax-offline')" 2>/dev/null \
	  || { echo "make html: MathJax for the offline book (sphinx-mathjax-offline) is not installed;" \
	       "run: $(BIN)/python -m pip install -r requirements.txt   (or: make install)" >&2; exit 1; }
	$(BIN)/jupyter-book build . -W -n --keep-going
	@test -f $(MATHJAX_JS) || { echo "make html: $(MATHJAX_JS) is missing: sphinx-mathjax-offline" \
	  "did not copy MathJax into the build; reinstall it: $(BIN)/python -m pip install --force-reinstall -r requirements.txt" >&2; exit 1; }

figures: install
	$(BIN)/relubook run all --profile full

chapter: install
	$(BIN)/relubook run $(CH) --profile $(PROFILE)

# Format the chapters' code cells with ruff (line length and style from pyproject.toml's
# [tool.ruff]); Markdown, outputs and metadata are left as they are. A reformatted chapter's
# code hash changes: re-run it (`make chapter CH=NN PROFILE=full`). One notebook:
# `make format NB=notebooks/05_relu_inr.ipynb`. ruff does not split long strings.
NB ?= notebooks/
.PHONY: format
format: install
	$(BIN)/nbqa "ruff format" $(NB)

# ---- tests --------------------------------------------------------------------------
# Every step in order; stops at the first failing one, prints the wall times of the chapters and
# of the whole run either way, and exits non-zero if a step failed.
test:
	@start=$$(date +%s); rc=0; \
	$(MAKE) --no-print-directory install lint browser-deps unit smoke nbval fresh html browser || rc=$$?; \
	if [ -x $(BIN)/relubook ]; then $(BIN)/relubook timings || true; fi; \
	t=$$(( $$(date +%s) - start )); \
	echo "make test: total $$(( t / 60 )) min $$(( t % 60 )) s$$([ $$rc = 0 ] || echo ", FAILED (exit $$rc)")"; \
	exit $$rc

# Lint the GitHub Actions workflows (actionlint, pinned in requirements.txt; it also runs
# shellcheck on `run:` scripts when shellcheck is installed).
.PHONY: lint linkcheck
lint: install
	$(BIN)/actionlint .github/workflows/*.yml

# Check the book's external links (needs the network): run by .github/workflows/regenerate.yml,
# not by `make test`.
linkcheck: pages
	$(BIN)/jupyter-book build . --builder linkcheck

unit:
	$(BIN)/python -m pytest tests/unit -q -p no:cacheprovider --timeout 300 -n $(TEST_JOBS)

# One chapter per worker at a time; each chapter has its own scratch copy, record and output.
smoke:
	TQDM_DISABLE=1 $(BIN)/python -m pytest tests/chapters/test_smoke.py -q -p no:cacheprovider --timeout 900 -n $(TEST_JOBS)

# --dist loadfile: every cell of one notebook runs in one worker (one kernel), in order.
nbval:
	TQDM_DISABLE=1 RELUBOOK_ROOT=$(CURDIR) $(BIN)/python -m pytest --nbval-lax build/notebooks/*.smoke.ipynb -q -p no:cacheprovider --timeout 900 -n $(TEST_JOBS) --dist loadfile

fresh:
	$(BIN)/python -m pytest tests/chapters/test_fresh.py tests/chapters/test_prose.py tests/chapters/test_figures.py -q -p no:cacheprovider

browser:
	$(BIN)/python -m pytest tests/book -q -p no:cacheprovider --timeout 300

# Headless Chromium and its driver for the browser test (Debian packages).
browser-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } \
	    || echo "could not install chromium: the browser test will be skipped"; \
	else echo "chromium not installed and cannot apt-get it here: the browser test will be skipped"; fi

# Benchmarks, not timed tests: run them on an otherwise idle machine.
bench: install
	$(BIN)/python benchmarks/bench_inr.py --threads $${BENCH_THREADS:-1}

clean:
	rm -rf _build build
