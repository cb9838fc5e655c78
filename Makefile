# Pressline: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.main: requirements/main.txt | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/main.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@

$(VENV)/.test: requirements/test.txt | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/test.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@ $(VENV)/.main

install: $(VENV)/.main ## Create the virtual environment from the lock file

run: $(VENV)/.main ## Migrate ./var/pressline.db and serve HTTPS on https://localhost:8443 with a demo key
	$(BIN)/pressline serve --demo

test: $(VENV)/.test ## Install the test tools and run the whole suite (SQLite and PostgreSQL)
	$(BIN)/python -m pytest

lint: $(VENV)/.test ## ruff and mypy --strict
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src tests

bench: $(VENV)/.test ## Throughput and latency of submit, get and search (see bench/README.md)
	$(BIN)/python -m bench.run

openapi: $(VENV)/.main ## Write the OpenAPI document to openapi.json
	$(BIN)/pressline openapi --output openapi.json

lock: ## Re-resolve requirements/*.txt from pyproject.toml (needs pip-tools)
	$(PIP) install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/main.txt pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links --extra test -o requirements/test.txt pyproject.toml

clean: ## Remove the virtual environment and local data (./var)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install run test lint bench openapi lock clean
