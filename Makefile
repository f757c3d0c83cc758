# flowdeck: the two commands of README.md, and what they need.
#   make demo   set up, run the daily_sales pipeline of the bundled example project, open the console
#   make test   set up, run the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bench clean java

# The Spark extra is part of the development install: the Spark tests run in CI (docs/spark.md).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==26.3
	# compat: a plain .pth entry; the default editable finder costs ~15 ms on every `flowdeck` start
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]' --config-settings editable_mode=compat
	touch $(STAMP)

# Spark (master mode, used by the Spark tests) needs Java 17+; Debian 12 ships 17.
java:
	@command -v java >/dev/null 2>&1 || { \
		echo "java is missing: installing openjdk-17-jre-headless"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/flowdeck run daily_sales
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/flowdeck console; fi

test: $(STAMP) java
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf .flowdeck exports data/generated
