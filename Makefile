# The README's commands. Every target enters the project's environment through
# scripts/in-env, which creates it first when it is missing.
IN_ENV := scripts/in-env

.PHONY: setup lock run test unit e2e lint train evaluate deploy release cd monitor

setup:
	scripts/setup-env

# Rewrite requirements.lock (pins and sha256 hashes) from setup.py, keeping the pins that
# still fit, then build the environment from it (README: Environment).
lock:
	scripts/setup-env --relock

# `make run ARGS="--data-dir DIR --label COLUMN"` passes flags to the run. GNU make
# itself exits 2 whenever a recipe fails (its only codes are 0, 1 and 2), so the
# recipe names the pipeline's own exit code; scripts that branch on it (3: the data
# gate stopped the run) call `scripts/in-env python -m pipeline run` directly.
run:
	@echo $(IN_ENV) python -m pipeline run $(ARGS)
	@$(IN_ENV) python -m pipeline run $(ARGS) || { code=$$?; echo "make run: python -m \
	pipeline run exited with $$code (see python -m pipeline --help)" >&2; exit $$code; }

# Tests run on TEST_WORKERS pytest-xdist processes, a test module (or the modules that
# share a session fixture, tests/conftest.py) being one unit of work; 0 runs them in this
# one process, as plain `pytest` does.
TEST_WORKERS ?= 2
PYTEST := $(IN_ENV) python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) \
	--dist loadfile)

# Lint, then every test (unit and end to end).
test: lint
	$(PYTEST)

unit:
	$(PYTEST) -m "not e2e"

e2e:
	$(PYTEST) -m e2e

# ruff on the code; actionlint and zizmor on the GitHub Actions workflows (zizmor with
# .github/zizmor.yml, which says why it skips one audit). zizmor runs
# its online audits too (do the pinned commits exist?) when GH_TOKEN is set, as in CI.
lint:
	$(IN_ENV) ruff check .
	$(IN_ENV) actionlint .github/workflows/*.yml
	$(IN_ENV) zizmor --no-progress .github/workflows .github/actions

# Continuous delivery: `make cd` locally, and the train-deploy workflow one target per
# step (README: CI/CD). Settings come from the environment or the command line (`make cd
# MIN_AUC=0.95`); the recipes read them as quoted shell variables, so a value is never
# shell code. Empty ones keep the pipeline's defaults.
export OUTPUT_DIR ?= outputs
export RUN_SUMMARY ?= $(OUTPUT_DIR)/run-summary.json
export MODEL_STORE ?= model-store
export MONITOR_REPORT ?= $(OUTPUT_DIR)/monitor.json
export DATA_DIR MIN_AUC MIN_ACCURACY MAX_REGRESSION

# The recipe's tail that names the command's own exit code (make's is 2, see `run`).
exited = || { code=$$?; echo "make $@: $(1) exited with $$code (see python -m pipeline \
	--help)" >&2; exit $$code; }

# Lint and unit tests, then train, evaluate and deploy to MODEL_STORE; stops at the
# first step that fails: train when the data gate stops the run (3), deploy when the
# model is not blessed (6).
cd: lint unit
	@$(MAKE) --no-print-directory train
	@$(MAKE) --no-print-directory evaluate
	@$(MAKE) --no-print-directory deploy

# One run with --json; the summary goes to RUN_SUMMARY. `ARGS` adds run flags.
train:
	@mkdir -p "$$(dirname "$$RUN_SUMMARY")"
	@$(IN_ENV) python -m pipeline run --json --output-dir "$$OUTPUT_DIR" \
	    $${DATA_DIR:+--data-dir "$$DATA_DIR"} $${MIN_AUC:+--min-auc "$$MIN_AUC"} \
	    $${MIN_ACCURACY:+--min-accuracy "$$MIN_ACCURACY"} \
	    $${MAX_REGRESSION:+--max-regression "$$MAX_REGRESSION"} $(ARGS) >"$$RUN_SUMMARY" \
	    $(call exited,python -m pipeline run)
	@echo "make train: the run's summary is $$RUN_SUMMARY"

# The newest run's deploy decision (exit 0 whatever it is); in GitHub Actions also
# step outputs and the job summary.
evaluate:
	@$(IN_ENV) python -m pipeline evaluate --output-dir "$$OUTPUT_DIR" \
	    $(call exited,python -m pipeline evaluate)

# The newest run's pushed version into MODEL_STORE/<model>/<version>/, only if blessed.
deploy:
	@$(IN_ENV) python -m pipeline deploy --output-dir "$$OUTPUT_DIR" --to "$$MODEL_STORE" \
	    $(call exited,python -m pipeline deploy)

# GitHub Actions' default model store: the version `deploy` put in MODEL_STORE, as the
# asset of a release tagged model-<model>-v<version> (kept when it exists). MODEL,
# VERSION and DEPLOYED_PATH are deploy's step outputs; gh reads GH_TOKEN and GH_REPO.
release:
	@test -n "$$MODEL" && test -n "$$VERSION" && test -n "$$DEPLOYED_PATH" || { echo \
	    "make release: set MODEL, VERSION and DEPLOYED_PATH (deploy's step outputs)" >&2; \
	    exit 2; }
	tar -C "$$DEPLOYED_PATH" -czf "$$DEPLOYED_PATH/../$$MODEL-$$VERSION.tar.gz" .
	gh release view "model-$$MODEL-v$$VERSION" >/dev/null 2>&1 || gh release create \
	    "model-$$MODEL-v$$VERSION" "$$DEPLOYED_PATH/../$$MODEL-$$VERSION.tar.gz" \
	    --target "$$GITHUB_SHA" --title "$$MODEL version $$VERSION" \
	    --notes "A SavedModel for TF Serving: unpack into <model_base_path>/$$VERSION/."

# The served model against the newest data (python -m pipeline monitor). Exit 5, decayed
# or drifted, is an answer: under GitHub Actions it becomes the step output retrain=true
# (the monitor workflow then runs train-deploy); locally make names it.
monitor:
	@mkdir -p "$$(dirname "$$MONITOR_REPORT")"
	@$(IN_ENV) python -m pipeline monitor --output-dir "$$OUTPUT_DIR" \
	    $${DATA_DIR:+--data-dir "$$DATA_DIR"} --json >"$$MONITOR_REPORT"; code=$$?; \
	cat "$$MONITOR_REPORT"; \
	if [ -n "$$GITHUB_OUTPUT" ] && [ $$code -eq 0 -o $$code -eq 5 ]; then \
	    echo "retrain=$$([ $$code -eq 5 ] && echo true || echo false)" >>"$$GITHUB_OUTPUT"; \
	    exit 0; fi; \
	[ $$code -eq 0 ] || { echo "make monitor: python -m pipeline monitor exited with \
	$$code (see python -m pipeline --help)" >&2; exit $$code; }
