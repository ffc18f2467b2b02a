# newswatch: `make run` sets up .venv and runs the main job; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run poll digest serve test check lint typecheck docs bench lock clean mutate

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newswatch needs Python 3.11 or newer (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

run: setup
	$(BIN)/newswatch run

poll: setup
	$(BIN)/newswatch poll

digest: setup
	$(BIN)/newswatch digest

serve: setup
	$(BIN)/newswatch serve

lint: setup
	$(BIN)/ruff check src flows tests bench
	$(BIN)/ruff format --check src flows tests bench

typecheck: setup
	$(BIN)/mypy

# The docs site (mkdocs.yml, docs/): strict, so a broken link, anchor or missing page fails.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

test: lint typecheck docs
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/bench_poll.py

# Mutation testing (not in CI; tens of minutes): mutmut mutates the safety, matching, merge and
# delivery functions below and runs their unit tests (pyproject.toml [tool.mutmut]) on each
# mutant. MUTANTS narrows or widens it (mutmut's mutant names; wildcards allowed).
MUTANTS ?= 'newswatch.fetch.netsafety*' 'newswatch.match.terms.x__term_pattern*' \
	'newswatch.store.warehouse.x__merge_topics*' 'newswatch.store.warehouse.x__after_last_stored*' \
	'newswatch.digest.delivery.x_plan_window*'
mutate: setup
	nice -n 10 $(BIN)/mutmut run $(MUTANTS)
	$(BIN)/mutmut results

# Regenerate the lock file after changing dependencies in pyproject.toml (needs `uv`).
lock:
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
