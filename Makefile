# Two commands do the whole set-up on a fresh machine:
#   make demo   - the main job (creates .venv, installs pinned dependencies, runs the demo)
#   make test   - the test suite (same environment)
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
# One BLAS thread: the dense baseline is measured on one core like the asynchronous network,
# and idle OpenBLAS threads would otherwise spin on the second core.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: demo test bench venv clean

$(STAMP): requirements.txt setup.py
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ant-ros demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q test

bench: $(STAMP)
	$(VENV)/bin/ant-ros bench core

clean:
	rm -rf $(VENV) build *.egg-info
