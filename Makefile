# streamharness: every target bootstraps .venv when it is missing or pyproject/constraints changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# make load overrides: make load RATE=500 PRODUCERS=4 CONSUMERS=3 DURATION=60 SIZE=1024
# TARGET=pulsar-lite: a real Pulsar-protocol broker started for the run (binary protocol) instead of the emulator
TARGET    ?= emulator
RATE      ?= 100
PRODUCERS ?= 2
CONSUMERS ?= 2
DURATION  ?= 30
SIZE      ?= 100
LOAD_ARGS ?=
BENCH     ?=
REGIONS   ?= examples/regions-emulated.toml
TEST_WORKERS ?= 4  # the tests mostly wait on child processes, so they run 4 at a time
CHROMIUM  ?= /usr/bin/chromium

.PHONY: load load-distributed capacity test ui lint bench install clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "streamharness needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

load: $(STAMP)
	$(BIN)/streamharness load --target $(TARGET) --rate $(RATE) --producers $(PRODUCERS) \
		--consumers $(CONSUMERS) --duration $(DURATION) --size $(SIZE) $(LOAD_ARGS)

# a master and 2 local worker processes (Locust's own engine) against the embedded emulator (or TARGET)
load-distributed: $(STAMP)
	$(BIN)/streamharness load --processes 2 --target $(TARGET) --rate $(RATE) --producers $(PRODUCERS) \
		--consumers $(CONSUMERS) --duration $(DURATION) --size $(SIZE) $(LOAD_ARGS)

# each region's maximum sustainable throughput; with no REGIONS, three emulated regions (about 3 minutes)
capacity: $(STAMP)
	$(BIN)/streamharness capacity $(REGIONS)

# tests marked alone measure rates against known caps: they run after the rest, with the cores to themselves.
# --maxschedchunk 2: workers take tests two at a time, so the slow ones (collected first, see
# tests/conftest.py) spread over every worker instead of one worker's first batch or last tail
test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxschedchunk 2 -m "not alone"
	$(BIN)/python -m pytest -m alone

# The report test opens report.html in Debian's headless Chromium; install it only when missing.
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

ui: $(STAMP)
	$(BIN)/locust -f locustfile.py --web-host 127.0.0.1 --web-port 8089 --target emulator $(LOAD_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	BENCH=$(BENCH) $(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
