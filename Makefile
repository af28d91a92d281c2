# churnml: `make demo` runs the whole pipeline on embedded defaults; `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_ACCOUNTS ?= 3000
DEMO_MONTHS ?= 24
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: help venv demo demo-data train score evaluate serve check-data test bench bench-quality bench-layouts lint format clean

help: ## list every target
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(STAMP)

venv: $(STAMP) ## create .venv with the pinned dependencies

demo-data: $(STAMP) ## generate the demo warehouse (data/warehouse.duckdb)
	$(BIN)/churnml demo-data --accounts $(DEMO_ACCOUNTS) --months $(DEMO_MONTHS)

check-data: $(STAMP) ## profile and check the configured sources
	$(BIN)/churnml check-data

train: $(STAMP) ## train, gate and register the churn and upsell models
	$(BIN)/churnml train

score: $(STAMP) ## score active accounts and write them back with a report
	$(BIN)/churnml score

evaluate: $(STAMP) ## track record: scores written one horizon ago against what happened (AS_OF=YYYY-MM-DD to pick one)
	$(BIN)/churnml evaluate $(if $(AS_OF),--as-of $(AS_OF))

demo: $(STAMP) ## end to end on embedded defaults: demo data, check, train, score, report
	$(BIN)/churnml demo-data --accounts $(DEMO_ACCOUNTS) --months $(DEMO_MONTHS)
	$(BIN)/churnml check-data
	$(BIN)/churnml train
	set -o pipefail; $(BIN)/churnml score | tee data/last-score.log
	@echo
	@echo "KPIs         : $$(sed -n 's/^KPIs: //p' data/last-score.log)"
	@echo "               board and forecast: data/warehouse.duckdb, tables cs_kpis and cs_forecast (docs/kpis.md)"
	@echo "scored table : data/warehouse.duckdb, table scored_accounts (history: scored_accounts_history)"
	@echo "               $(BIN)/python -c \"import duckdb; print(duckdb.connect('data/warehouse.duckdb', read_only=True).sql('select * from scored_accounts limit 10'))\""
	@echo "MLflow UI    : $(BIN)/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlruns/mlflow.db"
	@echo "report       : $$(ls -t reports/*.html | head -1)"

serve: $(STAMP) ## run daily scoring and monthly retraining on a Prefect server (PREFECT_API_URL)
	$(BIN)/churnml serve

bench: $(STAMP) ## benchmarks: feature extraction, training and scoring at 100k accounts (slow)
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/training.py
	$(BIN)/python benchmarks/scoring.py

bench-quality: $(STAMP) ## backtest quality vs logistic and plain LightGBM on demo datasets and every foreign layout (minutes)
	$(BIN)/python benchmarks/quality.py

bench-layouts: $(STAMP) ## every foreign layout (2,000 accounts) through check-data, train, score, evaluate: times, label rates, metrics (slow)
	$(BIN)/python benchmarks/layouts.py

test: $(STAMP) ## run the test suite on both cores (pytest-xdist, one test file per worker at a time)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

lint: $(STAMP) ## ruff lint and format check; no function over 80 lines
	$(BIN)/ruff check src flows tests benchmarks .ci
	$(BIN)/ruff format --check src flows tests benchmarks .ci
	$(BIN)/python .ci/function_length.py --max-lines 80 src flows benchmarks

format: $(STAMP) ## apply ruff formatting and fixes
	$(BIN)/ruff check --fix src flows tests benchmarks .ci
	$(BIN)/ruff format src flows tests benchmarks .ci

clean: ## remove generated data, runs and reports (keeps .venv)
	rm -rf data mlruns reports exports .prefect
