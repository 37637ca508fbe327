# Set-up and the two everyday commands; everything runs inside .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.livianet-installed

.PHONY: demo test install clean

demo: $(STAMP)  ## train, segment and report on the built-in example
	$(BIN)/livianet demo

test: $(STAMP)  ## lint and type-check, then run the test suite
	$(BIN)/ruff check src tests bench models
	$(BIN)/ruff format --check src tests bench models
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

install: $(STAMP)

# torch first: pip takes the CPU build lying on this disk (elsewhere, the normal build).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

clean:
	rm -rf $(VENV)
