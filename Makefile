# The README's commands. Every target enters the project's environment through
# scripts/in-env, which creates it first when it is missing.
IN_ENV := scripts/in-env

.PHONY: setup run test unit e2e lint

setup:
	scripts/setup-env

run:
	$(IN_ENV) python -m pipeline run

# Lint, then every test (unit and end to end).
test: lint
	$(IN_ENV) python -m pytest

unit:
	$(IN_ENV) python -m pytest -m "not e2e"

e2e:
	$(IN_ENV) python -m pytest -m e2e

lint:
	$(IN_ENV) ruff check .
