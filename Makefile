# Email Operations. `make test` and `make run` need only Python >= 3.11 and make.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
BIN := $(VENV)/bin
SAM := $(SAM_VENV)/bin/sam
# checkov findings not fixed, each reasoned in docs/adr/0019-checkov.md; CKV_AWS_115
# (reserved concurrency, none by default) in docs/adr/0060-no-reserved-concurrency-by-default.md.
CHECKOV_SKIPS := CKV_AWS_27,CKV_AWS_115,CKV_AWS_116,CKV_AWS_117,CKV_AWS_119,CKV_AWS_149,CKV_AWS_158,CKV_AWS_173

.PHONY: help install test lint typecheck template-check deploy-check unit clean openapi openapi-check fuzz
.PHONY: run token demo sent build
.PHONY: bench
.PHONY: browser-deps screenshot

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

install: $(BIN)/.installed ## create .venv with everything the tests and the local stack need

# The page's browser tests (tests/browser) drive Debian's chromium through
# Playwright (never `playwright install`, which downloads a browser) and check
# it with axe-core from npm (package-lock.json).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

node_modules/.installed: package.json package-lock.json
	command -v npm >/dev/null || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y npm; }
	npm ci --no-audit --no-fund
	touch $@

browser-deps: $(CHROMIUM) node_modules/.installed ## chromium (apt) and axe-core (npm) for the browser tests

screenshot: install browser-deps ## docs/page*.png, the README's pictures of the page, from a browser test
	$(BIN)/pytest -q tests/browser/test_page_screenshot.py
	cp test-output/browser/page.png test-output/browser/page-email.png test-output/browser/page-phone.png \
		test-output/browser/page-bulks.png test-output/browser/page-stats.png docs/

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy (strict, pydantic plugin)
	$(BIN)/mypy common functions local benchmarks

# cfn-lint with its informational rules too (I3011: an explicit DeletionPolicy and
# UpdateReplacePolicy on each resource that holds data).
template-check: install $(CHECKOV_VENV)/.installed ## cfn-lint (informational rules included) and checkov on template.yaml
	$(BIN)/cfn-lint --include-checks I -- template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact \
		--skip-download --skip-check $(CHECKOV_SKIPS)

# What a deploy would refuse: sam validate --lint (as make build runs it), cfn-lint
# with its informational rules (cfn-lint 1.x spells the issue's `cfn-lint -I`
# `--include-checks I`; its own -I only turns on info logging), CloudFormation's
# and IAM's quotas, and the permissions report of the last test run
# (test-output/permissions): every AWS call each function made, allowed by its
# role in template.yaml (local/deploy_check.py).
deploy-check: install $(SAM_VENV)/.installed ## sam validate --lint, cfn-lint -I, CloudFormation's quotas, the permissions report of the last test run
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region us-east-1 --template-file template.yaml
	$(BIN)/cfn-lint --include-checks I --non-zero-exit-code informational template.yaml
	$(BIN)/python -m local deploy-check

unit: build browser-deps ## pytest only (the built-artifact tests need `make build`)
	$(BIN)/pytest -q

openapi: install ## write docs/openapi.json from the API functions' code
	$(BIN)/python -m local.openapi --write

openapi-check: install ## fail when docs/openapi.json no longer matches the code
	$(BIN)/python -m local.openapi --check

.PHONY: imports
imports: install ## redraw docs/architecture.md's drawing of the imports (tests/unit/test_layers.py checks it)
	$(BIN)/python -m local.imports --write

# schemathesis, from docs/openapi.json, against a local stack of its own on free
# ports: a seeded, bounded run (about half a minute).
FUZZ_TESTS := tests/e2e/test_api_fuzz.py
fuzz: install ## schemathesis against the local stack: no 5xx, answers as documented, errors in the envelope
	$(BIN)/pytest -q $(FUZZ_TESTS)

# `make run` records its ports in .local-stack.json while it runs: token, demo
# and sent find it there, whichever EMAILOPS_*_PORT it was started with.
run: install ## the whole service on this machine (HTTP API :3000, Lambda :3001, AWS :5000) until Ctrl-C
	$(BIN)/python -m local run --record

# TTL: the token's lifetime in seconds (default 12 h); URL=1: the page's URL, signed in, instead.
token: install ## print a dev JWT: make token DOMAINS="acme.com beta.io" [TTL=600] [URL=1]
	@$(BIN)/python -m local token "$(DOMAINS)" $(if $(TTL),--ttl "$(TTL)") $(if $(URL),--url)

demo: install ## against a running `make run`: one email of each type, a bulk send, the log until sent
	$(BIN)/python -m local demo

sent: install ## against a running `make run`: what its embedded SES accepted (works offline, unlike /moto-api/)
	@$(BIN)/python -m local sent

bench: install ## measure calls per email, cold starts, list cost, throughput, priority, cost; writes docs/benchmarks.md
	$(BIN)/python -m benchmarks

# sam build needs the functions' runtime (python3.13) on PATH; local/build.py
# finds it (pyenv too). Rebuilt only when what goes into the artifacts changes.
BUILD_INPUTS := template.yaml requirements.txt local/build.py $(wildcard common/*.py common/*/*.py functions/*/*.py functions/*/requirements.txt layer/* web/*)
.aws-sam/.built: $(BIN)/.installed $(SAM_VENV)/.installed $(BUILD_INPUTS)
	$(BIN)/python -m local build --sam $(SAM)
	touch $@

build: .aws-sam/.built ## sam validate --lint + sam build (no containers), and the host build the tests import

# make test runs the test files on TEST_WORKERS processes (pytest-xdist), each file
# whole on one of them, so a file's module fixtures (a world of jobs, a local
# stack) are built once.
TEST_WORKERS ?= 2

# Both pytest runs record the AWS calls they check into test-output/permissions
# (the first starts it empty); deploy-check reports them.
test: lint typecheck template-check openapi-check build browser-deps ## everything CI runs: linters, template and OpenAPI checks, every test, schemathesis, deploy-check
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --ignore=$(FUZZ_TESTS)
	EMAILOPS_PERMISSIONS_KEEP=1 $(BIN)/pytest -q $(FUZZ_TESTS)
	$(MAKE) --no-print-directory deploy-check

clean: ## remove the virtual environments and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache node_modules test-output
