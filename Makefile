# The two commands of the README: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
VENV = $(shell bash deploy/bootstrap.sh)
PY = $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
PYTEST_ARGS ?=

.PHONY: setup test unit integration demo down bench-quick clean

## setup: venv (cached by requirements hash), Kafka jars (cached), kcat (Debian package)
setup:
	@bash deploy/bootstrap.sh >/dev/null
	@$(VENV)/bin/genre kafka install >/dev/null
	@command -v kcat >/dev/null || bash deploy/install-kcat.sh

## test: the whole suite; the session starts and stops its own Kafka broker
test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

unit: setup
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

integration: setup
	$(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

## demo: local Kafka + workers + MovieLens-100K replay + live evaluation
demo: setup
	$(VENV)/bin/genre demo

down:
	$(VENV)/bin/genre down

clean:
	rm -rf .state reports .pytest_cache
