# The one command surface: the README, .ci/run and the Jenkinsfile call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed

export EMULATOR_PORT ?= 4590
TF_CLI_CONFIG := $(CURDIR)/.tf/terraformrc
export TF_CLI_CONFIG_FILE := $(TF_CLI_CONFIG)
export TF_PLUGIN_CACHE_DIR := $(CURDIR)/.tf/plugin-cache
export TF_IN_AUTOMATION := 1

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z][a-zA-Z_-]*:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# --- setup -------------------------------------------------------------------------------------
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 2; }
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(TF_CLI_CONFIG): scripts/terraform-cli-config.sh
	@mkdir -p $(TF_PLUGIN_CACHE_DIR)
	@scripts/terraform-cli-config.sh $@

.PHONY: setup
setup: $(STAMP) $(TF_CLI_CONFIG) ## Create .venv, install the project, configure Terraform's provider source
	@scripts/check-prerequisites.sh

# --- quality -----------------------------------------------------------------------------------
.PHONY: lint
lint: $(STAMP) asl-tools ## ruff (lint + format check), terraform fmt -check, the state machine through asl-validator and statelint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -d infra ]; then terraform fmt -check -recursive infra; fi
	$(PY) scripts/validate_asl.py

# The state machine's independent checks: asl-validator and aws-local-stepfunctions (a second ASL interpreter,
# tests/asl) from npm, statelint from PyPI, each at the exact versions of its manifest in tools/.
ASL_TOOLS      := .tools/asl
ASL_MODULES    := $(ASL_TOOLS)/node_modules
STATELINT_VENV := .tools/statelint
STATELINT      := $(STATELINT_VENV)/bin/statelint

$(ASL_MODULES): tools/asl/package.json tools/asl/package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found; install Node.js 20+ with npm" >&2; exit 2; }
	@mkdir -p $(ASL_TOOLS)
	cp tools/asl/package.json tools/asl/package-lock.json $(ASL_TOOLS)/
	npm ci --prefix $(ASL_TOOLS) --no-audit --no-fund --loglevel=error || { rm -rf $@; exit 1; }
	@touch $@

$(STATELINT): tools/statelint/requirements.txt
	$(PYTHON) -m venv $(STATELINT_VENV)
	$(STATELINT_VENV)/bin/pip install --quiet -r tools/statelint/requirements.txt
	@touch $@

.PHONY: asl-tools
asl-tools: $(ASL_MODULES) $(STATELINT) ## Install asl-validator, aws-local-stepfunctions and statelint into .tools/

.PHONY: format
format: $(STAMP) ## Format Python and Terraform in place
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	terraform fmt -recursive infra

.PHONY: test
test: setup asl-tools lint validate scan ## Everything CI runs: lint, terraform validate, checkov, unit, component and end-to-end tests
	$(PY) -m pytest $(PYTEST_ARGS)

# --- the emulator ------------------------------------------------------------------------------
.PHONY: up
up: setup ## Start the emulator in the background (reuses a running one)
	$(PY) -m emulator up

.PHONY: down
down: $(STAMP) ## Stop the background emulator
	$(PY) -m emulator down

.PHONY: status
status: $(STAMP) ## Show the emulator's endpoint, pid and email outbox
	$(PY) -m emulator status

# --- build and deploy --------------------------------------------------------------------------
# ENV=local deploys onto the running emulator (`make up`); ENV=dev|prod onto AWS with the caller's
# credentials (AUTO_APPROVE=1 applies without asking). Logic lives in scripts/deploy.py.
ENV ?= local
PACKAGE := $(PY) scripts/package.py
DEPLOY  := $(PY) scripts/deploy.py --env $(ENV)$(if $(filter 1,$(FORCE)), --force)

.PHONY: package
package: $(STAMP) ## Build the Lambda zips, the Glue script and its library into build/
	$(PACKAGE)

PLAN_DIR    := $(CURDIR)/build/plan
PLAN_ACTION ?= apply

.PHONY: plan
plan: $(STAMP) $(TF_CLI_CONFIG) ## Save a plan (PLAN_ACTION=destroy for a destroy plan) to build/plan/ENV.tfplan + .txt
	@mkdir -p $(PLAN_DIR)
	set -o pipefail; $(DEPLOY) plan -- -no-color -out=$(PLAN_DIR)/$(ENV).tfplan \
		$(if $(filter destroy,$(PLAN_ACTION)),-destroy) | tee $(PLAN_DIR)/$(ENV).txt

.PHONY: apply-plan
apply-plan: $(STAMP) $(TF_CLI_CONFIG) ## Apply the plan saved by `make plan` for ENV
	@test -f $(PLAN_DIR)/$(ENV).tfplan || { echo "error: no saved plan for $(ENV): run make plan ENV=$(ENV) first" >&2; exit 2; }
	$(DEPLOY) apply-plan -- $(PLAN_DIR)/$(ENV).tfplan

.PHONY: apply
apply: $(STAMP) $(TF_CLI_CONFIG) ## Apply the Terraform of ENV with the artifacts in build/
	$(DEPLOY) apply

.PHONY: deploy
deploy: $(STAMP) $(TF_CLI_CONFIG) ## package + apply for ENV (only changed artifacts are re-deployed)
	$(DEPLOY) preflight
	$(PACKAGE)
	$(DEPLOY) apply

.PHONY: smoke
smoke: $(STAMP) $(TF_CLI_CONFIG) ## Run the deployed state machine for a canary date; fails unless it succeeds and emails
	$(PY) -m etl smoke --env $(ENV)

.PHONY: validate
validate: $(TF_CLI_CONFIG) ## terraform validate of every environment (offline, no backend)
	@for env in local aws; do \
		TF_DATA_DIR=$(CURDIR)/.tf/validate/$$env terraform -chdir=infra/envs/$$env init -backend=false -input=false >/dev/null && \
		TF_DATA_DIR=$(CURDIR)/.tf/validate/$$env terraform -chdir=infra/envs/$$env validate -no-color || exit 1; \
	done

CHECKOV_VENV := .tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==3.3.30

.PHONY: scan
scan: $(CHECKOV) ## checkov security scan of infra/ (results in build/checkov/)
	@mkdir -p build/checkov
	$(CHECKOV) -d infra --framework terraform --compact --quiet --output cli --output junitxml --output-file-path console,build/checkov/results_junitxml.xml

.PHONY: browser
browser: ## Install headless Chromium (Debian) for the dashboard's browser test, if missing
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

.PHONY: run
run: setup ## Fresh clone to a finished run: emulator up, deploy, run today's sample, summary, email, dashboard
	$(MAKE) --no-print-directory up
	$(MAKE) --no-print-directory deploy ENV=local
	$(PY) -m etl demo
	$(PY) -m etl dashboard local

.PHONY: bench
bench: $(STAMP) $(TF_CLI_CONFIG) ## Benchmark on a private emulator: table + build/bench/results.json (BENCH_ARGS=...)
	$(PY) scripts/bench.py $(BENCH_ARGS)

.PHONY: clean
clean: ## Remove build outputs and emulator state (keeps .venv)
	rm -rf build .emulator .pytest_cache .tf/validate
