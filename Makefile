# limsai: `make demo` and `make test` set up .venv from this repository's own files on first use.
# A stamp file records a finished install; it is redone only when packaging files change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.limsai-installed
PLUGINS := labware labvantage samplemanager benchling
CONSTRAINTS := requirements/constraints.txt
PACKAGING := setup.cfg pyproject.toml $(CONSTRAINTS) \
	$(foreach p,$(PLUGINS),plugins/$(p)/setup.cfg plugins/$(p)/pyproject.toml)
PYTEST_ARGS ?=

.PHONY: demo test lint bench install clean

install: $(STAMP)

$(STAMP): $(PACKAGING)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "limsai needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) setuptools wheel
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
		-c $(CONSTRAINTS) -e '.[test,lint]' $(foreach p,$(PLUGINS),-e ./plugins/$(p))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/limsai demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check core tests benchmarks plugins
	$(BIN)/mypy core/limsai $(foreach p,$(PLUGINS),plugins/$(p)/limsai_$(p))

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c $(CONSTRAINTS) -e '.[bench]'
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) build limsai-demo
