# LakePulse — PostgreSQL CDC into a Delta Lake lakehouse, on one laptop.
# `make run` and `make test` bootstrap themselves on a fresh machine (Debian 12, Python 3.11, JDK 17, Maven).

SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION ?= 0.13.8
STATE_DIR  ?= $(CURDIR)/.lakepulse
JARS_DIR   := $(STATE_DIR)/jars
UV         := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN        := $(UV) run --frozen
PYTEST_ARGS ?=
# `make test PYTEST_MARKERS="not e2e and not slow"` for a quick run; `make e2e` runs only the e2e test.
PYTEST_MARKERS ?=
# `make bench BENCH_ARGS="--only bronze --repeat 3"`, `BENCH_ARGS="--scale 0.1,1,4"` (see bench/results/README.md).
BENCH_ARGS ?=
RUN_ARGS ?=
SETUP_STAMP := $(STATE_DIR)/.setup-done
APT_PACKAGES := postgresql-15 postgresql-15-wal2json prometheus
JAEGER     := $(STATE_DIR)/tools/jaeger

.PHONY: help setup up down status run test e2e lint fmt bench clean-state jaeger

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

$(JARS_DIR)/kafka/.done: deploy/maven/kafka/pom.xml
	mvn -q -B -f deploy/maven/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(JARS_DIR)/kafka
	touch $@

$(JARS_DIR)/spark/.done: deploy/maven/spark/pom.xml
	mvn -q -B -f deploy/maven/spark/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(JARS_DIR)/spark
	touch $@

# Jaeger v2: the OTLP receiver the trace tests export to. Built from the Go module proxy with the tool
# module in deploy/jaeger (its go.mod pins the version); rebuilt only when that module changes.
$(JAEGER): deploy/jaeger/go.mod deploy/jaeger/go.sum
	@command -v go >/dev/null || { echo "Go (>= 1.24) is needed to build Jaeger: install it, then run make jaeger"; exit 1; }
	@mkdir -p $(@D)
	cd deploy/jaeger && nice go build -buildvcs=false -o $@.tmp github.com/jaegertracing/jaeger/cmd/jaeger
	mv $@.tmp $@

jaeger: $(JAEGER) ## Build the Jaeger v2 OTLP receiver into .lakepulse/tools (idempotent)

setup: $(UV) $(JARS_DIR)/kafka/.done $(JARS_DIR)/spark/.done ## Idempotent set-up: Python env (uv), Maven jars, apt packages
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi
	$(UV) sync --frozen --all-packages
	@mkdir -p $(STATE_DIR) && touch $(SETUP_STAMP)

up: setup ## Start the local stack (Postgres + Kafka) without Docker
	$(RUN) lakepulse up

down: ## Stop the local stack; no LakePulse process stays behind
	@if [ -x "$(UV)" ] && [ -d .venv ]; then $(RUN) lakepulse down; else echo "nothing to stop"; fi

status: ## Show the local stack's health and endpoints
	$(RUN) lakepulse status

run: setup ## The main job: the whole pipeline on the embedded local stack (RUN_ARGS="--scale 0.1 --duration 30")
	$(RUN) lakepulse demo $(RUN_ARGS)

test: setup $(JAEGER) ## Run the test suite against real Postgres, Kafka, Spark/Delta, Prometheus and Jaeger
	$(RUN) pytest $(if $(PYTEST_MARKERS),-m "$(PYTEST_MARKERS)") $(PYTEST_ARGS)

e2e: setup ## The end-to-end test: seed, stream through every stage, workload, verify
	$(RUN) pytest -m e2e $(PYTEST_ARGS)

lint: setup ## ruff and mypy (never edits files)
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy libs/common/src libs/oltp/src cli/src $(wildcard services/*/src) bench

fmt: setup ## Format and auto-fix
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: setup ## Measure every stage against its in-run baselines (writes bench/results/; BENCH_ARGS=...)
	$(RUN) python -m bench.run $(BENCH_ARGS)

clean-state: down ## Delete the local stack's data (Postgres, Kafka, lake, checkpoints)
	rm -rf $(STATE_DIR)/postgres $(STATE_DIR)/kafka $(STATE_DIR)/lake $(STATE_DIR)/checkpoints $(STATE_DIR)/test
