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

# Until the MD and study issues land, the main job is the published model check.
demo: install
	@[ -n "$(HYDROPIMD_DATA)" ] || $(BIN)/hydropimd data fetch
	$(BIN)/hydropimd model test --model "$$($(BIN)/hydropimd data path models/subtracted/graph.pb)" --split test
	$(BIN)/hydropimd model test --model "$$($(BIN)/hydropimd data path models/subtracted/graph.pb)" \
		--pair "$$($(BIN)/hydropimd data path tables/full.table)" --split test

bench: install
	$(BIN)/python bench/potential.py

clean:
	rm -rf $(VENV) .pytest_cache
