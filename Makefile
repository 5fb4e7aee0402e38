# Two set-up commands: `make demo` and `make test` (both install into .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Data-location rule: HYDROPIMD_DATA if set; in a developer checkout, ../shared beside it.
HYDROPIMD_DATA ?= $(abspath $(wildcard ../shared/lah10-published))
export HYDROPIMD_DATA
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install qe test demo bench clean

install: $(VENV)/.installed

# the gpu extra (DeePMD-kit's PyTorch backend, torch 2.11.0) is installed too: its tests run on CPU
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,gpu]'
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
test: install qe
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(PYTEST_ARGS)

# The main job: the shipped demo study (classical N = 352 LaH10, 300 K, 80-220 GPa, ~15 min on
# 2 cores), report in ./demo-report/.  A killed demo resumes where it stopped.
demo: install
	@[ -n "$(HYDROPIMD_DATA)" ] || $(BIN)/hydropimd data fetch
	$(BIN)/hydropimd study run --dir demo-study --report demo-report

bench: install qe
	$(BIN)/python bench/potential.py
	$(BIN)/python bench/md.py
	$(BIN)/python bench/analysis.py
	$(BIN)/python bench/dft.py

clean:
	rm -rf $(VENV) .pytest_cache
