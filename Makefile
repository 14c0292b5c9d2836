# The README's commands. Every target enters the project's environment through
# scripts/in-env, which creates it first when it is missing.
IN_ENV := scripts/in-env

.PHONY: setup run test unit e2e lint

setup:
	scripts/setup-env

# `make run ARGS="--data-dir DIR --label COLUMN"` passes flags to the run. GNU make
# itself exits 2 whenever a recipe fails (its only codes are 0, 1 and 2), so the
# recipe names the pipeline's own exit code; scripts that branch on it (3: the data
# gate stopped the run) call `scripts/in-env python -m pipeline run` directly.
run:
	@echo $(IN_ENV) python -m pipeline run $(ARGS)
	@$(IN_ENV) python -m pipeline run $(ARGS) || { code=$$?; echo "make run: python -m \
	pipeline run exited with $$code (see python -m pipeline --help)" >&2; exit $$code; }

# Lint, then every test (unit and end to end).
test: lint
	$(IN_ENV) python -m pytest

unit:
	$(IN_ENV) python -m pytest -m "not e2e"

e2e:
	$(IN_ENV) python -m pytest -m e2e

lint:
	$(IN_ENV) ruff check .
