# shoal: `make demo` runs the flagship scenario, `make test` the whole suite.
# Both create .venv and install the project with its test extras on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck guard pytest clean

# uv installs the 107 packages in about 25 s where pip takes about 65 s (time that
# counts against the suite's 20 minutes); pip is the fallback if uv cannot be had.
# Bytecode is compiled at install, as pip does: under PYTHONDONTWRITEBYTECODE every
# daemon and CLI process the real-mode tests start would compile its imports again
# (a process took 4.3 s to start instead of 2.0, and the suite 31 minutes).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv \
		&& $(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode -e '.[test]' \
		|| $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/shoal sim run scenarios/rolling-update-isolated-leader.yml --plot demo.png
	@echo "wrote demo.png"

lint: $(STAMP)
	$(BIN)/ruff check core sim real cli shoal tests benchmarks
	$(BIN)/ruff format --check core sim real cli shoal tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

guard: $(STAMP)
	$(BIN)/python -m tests.rule1.ast_guard core

# Five workers on two cores: the real-mode tests spend most of their time waiting on
# test hosts (11.6 min of CPU in a 20.5 min run with two workers), so more of them
# overlap; work stealing keeps an idle worker from watching another's queue of long
# real-mode runs (scenarios of up to 125 s of wall time each). PYTEST_WORKERS overrides the count.
pytest: $(STAMP)
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest -n $${PYTEST_WORKERS:-5} --dist worksteal -q --durations=25

test: lint typecheck guard pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
