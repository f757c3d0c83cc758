# flowdeck: the two commands of README.md, and what they need.
#   make demo   set up, run the daily_sales pipeline of the bundled example project, open the console
#   make test   set up, run the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	# compat: a plain .pth entry; the default editable finder costs ~15 ms on every `flowdeck` start
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/flowdeck run daily_sales
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/flowdeck console; fi

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf .flowdeck exports data/generated
