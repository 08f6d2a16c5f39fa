# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO := data/demo
export DAGSTER_HOME := $(CURDIR)/dagster_home
# The demo's rooms for `make demo` and for runs launched from `make ui` alike, so a room has one
# name whichever way its runs start; a site sets its own (XRF_ROOMS_FILE=/etc/xrf/rooms.yaml make ui).
# Partitions from the demo's first month, unless XRF_INPUT_DIR names another archive (then the
# default, 2016-01, or XRF_FIRST_MONTH). Not for `make test`: tests set what they need.
demo ui: export XRF_ROOMS_FILE ?= $(CURDIR)/examples/rooms.yaml
demo ui: export XRF_FIRST_MONTH ?= $(if $(XRF_INPUT_DIR),,2026-09)

.PHONY: demo test test-fast ui schema lint bench clean listen

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	# bytecode for the project's own modules, as a regular install has: an editable one has none,
	# and where PYTHONDONTWRITEBYTECODE is set every command compiles them again (~0.3 s a process)
	$(BIN)/python -m compileall -q xrf_assets pipelines schemas benchmarks
	touch $@

# The demo corpus is generated once (same seed, same bytes); delete data/demo to regenerate.
$(DEMO)/truth/studies.parquet: | $(BIN)/.installed
	$(BIN)/xrf-dose synth --out $(DEMO) --seed 42

## demo: create the environment, generate the demo corpus, run the whole graph on it
demo: $(BIN)/.installed $(DEMO)/truth/studies.parquet
	$(BIN)/xrf-dose run --input $(DEMO)/dicom --output $(DEMO)/output

## test: the whole test suite (what CI runs)
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2

## ui: the Dagster UI on http://127.0.0.1:3000 with run history kept in dagster_home/
ui: $(BIN)/.installed
	$(BIN)/dagster dev -w workspace.yaml

## listen: receive dose reports over DICOM into $(XRF_INPUT_DIR) (docs/network.md); run beside `make ui`
LISTEN_INPUT ?= $(or $(XRF_INPUT_DIR),data/received)
listen: $(BIN)/.installed
	$(BIN)/xrf-dose listen --input $(LISTEN_INPUT) --port $(or $(XRF_LISTEN_PORT),11112)

## schema: regenerate the data dictionary schemas/README.md from the contracts
schema: $(BIN)/.installed
	$(BIN)/xrf-dose schema --write

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench: the benchmark scripts (print figures; not part of the tests)
bench: $(BIN)/.installed
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(DEMO)/output
