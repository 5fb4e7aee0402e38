# Two set-up commands: `make demo` and `make test` (both install into .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Data-location rule: HYDROPIMD_DATA if set; in a developer checkout, ../shared beside it.
HYDROPIMD_DATA ?= $(abspath $(wildcard ../shared/lah10-published))
export HYDROPIMD_DATA
export TF_CPP_MIN_LOG_LEVEL := 3

.PHONY: install test demo bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

test: install
	$(BIN)/python -m pytest -q

# The main job: the shipped demo study (classical N = 352 LaH10, 300 K, 80-220 GPa, ~15 min on
# 2 cores), report in ./demo-report/.  A killed demo resumes where it stopped.
demo: install
	@[ -n "$(HYDROPIMD_DATA)" ] || $(BIN)/hydropimd data fetch
	$(BIN)/hydropimd study run --dir demo-study --report demo-report

bench: install
	$(BIN)/python bench/potential.py
	$(BIN)/python bench/md.py
	$(BIN)/python bench/analysis.py

clean:
	rm -rf $(VENV) .pytest_cache
