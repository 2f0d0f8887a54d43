# Two commands do the whole set-up on a fresh machine:
#   make demo   - the main job (creates .venv, installs pinned dependencies, runs the demo)
#   make test   - the test suite on ROS 2 Jazzy (.venv, requirements.txt), then on ROS 2 Kilted
#                 (.venv-kilted, requirements-kilted.txt)
# make test-jazzy / make test-kilted run one of the two.
PYTHON ?= python3
VENV := .venv
VENV_KILTED := .venv-kilted
# One BLAS thread: the dense baseline is measured on one core like the asynchronous network,
# and idle OpenBLAS threads would otherwise spin on the second core.
export OPENBLAS_NUM_THREADS ?= 1

# Never two recipes at once, even under make -j: the two suites run one after the other (each
# claims its own ROS domain, but the timing tests want the cores), and the two editable
# installs rewrite the same ant_ros.egg-info in the source tree.
.NOTPARALLEL:
# A failing Jazzy suite does not hide the Kilted one: make test runs both, then fails.
MAKEFLAGS += --keep-going

.PHONY: demo test test-jazzy test-kilted bench venv venv-kilted clean

# An environment: $(1) its folder, $(2) its requirements file.
# A changed requirements file rebuilds the environment from scratch (the Jazzy and Kilted ROS
# wheels install the same modules under different package sets: upgrading in place would leave
# the other distribution's libraries behind). A changed setup.py only reinstalls the package
# (editable, no dependencies), e.g. for new console scripts.
define environment
$(1)/.requirements: $(2)
	test -n "$(1)" && rm -rf "$(1)"
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet -r $(2)
	cp $(2) $(1)/.requirements

$(1)/.installed: $(1)/.requirements setup.py
	$(1)/bin/python -m pip install --quiet --no-deps -e .
	touch $(1)/.installed
endef

$(eval $(call environment,$(VENV),requirements.txt))
$(eval $(call environment,$(VENV_KILTED),requirements-kilted.txt))

venv: $(VENV)/.installed

venv-kilted: $(VENV_KILTED)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/ant-ros demo

test: test-jazzy test-kilted

test-jazzy: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q test

test-kilted: $(VENV_KILTED)/.installed
	$(VENV_KILTED)/bin/python -m pytest -q test

bench: $(VENV)/.installed
	$(VENV)/bin/ant-ros bench core

clean:
	rm -rf $(VENV) $(VENV_KILTED) build *.egg-info
