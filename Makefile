# flowdeck: the two commands of README.md, and what they need.
#   make demo   set up, run the daily_sales pipeline of the bundled example project, open the console
#   make test   set up, run the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
BASE   := $(VENV)/.installed-base
STAMP  := $(VENV)/.installed

.PHONY: demo test setup check bench clean tools

# Two installs into one venv: the demo needs flowdeck alone; the test suite adds the test tools
# and the Spark extra (the Spark tests run in CI, docs/spark.md). Editable, so the checkout is
# what runs; the package still imports as `flowdeck.*` (setup.py maps the folders). setuptools
# says, at length, that an editable install is one; that note is filtered out, nothing else.
# pip's own output goes to $(LOG), shown whole if a step fails, so the demo prints the demo.
LOG      := $(VENV)/setup.log
QUIETLY  = >>$(LOG) 2>&1 || { cat $(LOG); echo "setting up $(VENV) failed (above: $(LOG))"; exit 1; }
EDITABLE := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -c constraints.txt -e
$(BASE): pyproject.toml constraints.txt setup.py
	@echo "setting up $(VENV) with flowdeck and what it needs (a minute or two the first time; pip's output: $(LOG))"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip==26.3 $(QUIETLY)
	@$(EDITABLE) . $(QUIETLY)
	@touch $(BASE)

$(STAMP): $(BASE)
	@echo "adding the test tools and the Spark extra to $(VENV) (pip's output: $(LOG))"
	@$(EDITABLE) '.[dev,spark]' $(QUIETLY)
	@touch $(STAMP)

# What the test suite uses beyond Python, installed from Debian packages when missing:
# tmux (the console's end-to-end tests, the installed wheel's console), git (the wheel test builds
# from the checkout's files), sqlite3, curl and jq (the operator guide's examples), the PostgreSQL
# server binaries (the connector tests start throwaway clusters), Java 17+ (Spark in master
# mode; Debian 12 ships 17) and Chromium (the web console's test drives it headless through Playwright,
# which cannot download a browser of its own here).
tools:
	@missing=""; \
	for tool in tmux git sqlite3 curl jq chromium; do command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	command -v java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

setup: $(STAMP)

# The demo's own commands are not echoed either: the run, then the console (or, with no terminal
# to open it on, what to try next).
demo: $(BASE)
	@$(BIN)/flowdeck run daily_sales
	@if [ -t 0 ] && [ -t 1 ]; then $(BIN)/flowdeck console; \
	else echo "next: .venv/bin/flowdeck console (the operator console; README.md lists more to try)"; fi

# The checks CI runs before the tests (docs/development.md, "Checks"), all three even when one
# fails: the layers of DESIGN.md §1 (import-linter), the types of engine/ and state/ (mypy), the
# lint (ruff; configured in pyproject.toml). mypy cannot follow the editable install's mapping of
# the folders to flowdeck.*: it reads them through links under $(TYPECHECK), and its messages name
# the repository's paths.
TYPECHECK := $(VENV)/typecheck/flowdeck
check: $(STAMP)
	@mkdir -p $(TYPECHECK) && for root in engine state console themes; do ln -sfn ../../../$$root $(TYPECHECK)/$$root; done
	@failed=""; \
	echo "layers (lint-imports)"; \
	if $(BIN)/lint-imports --cache-dir $(VENV)/import-linter-cache > $(VENV)/layers.out 2>&1; \
	then grep KEPT $(VENV)/layers.out; \
	elif grep -q '^Contracts' $(VENV)/layers.out; then sed -n '/^Contracts/,$$p' $(VENV)/layers.out; failed="$$failed layers"; \
	else cat $(VENV)/layers.out; failed="$$failed layers"; fi; \
	echo "types (mypy)"; $(BIN)/mypy > $(VENV)/types.out 2>&1 || failed="$$failed types"; \
	sed 's#^$(TYPECHECK)/##' $(VENV)/types.out; \
	echo "lint (ruff)"; $(BIN)/ruff check || failed="$$failed lint"; \
	if [ -n "$$failed" ]; then echo "make check failed:$$failed"; exit 1; fi

test: $(STAMP) tools
	$(BIN)/python -m pytest -n auto

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf .flowdeck exports data/generated
