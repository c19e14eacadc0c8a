#!/usr/bin/env bash
# The whole test suite, on a fresh machine: sets up .venv and the rest (scripts/setup.sh dev),
# runs the checks we configure (ruff, ruff format, mypy, the TypeScript type check, eslint and
# prettier), the rules' own examples, jest, the built wheel in a clean environment, then every
# Python test: engine, real server and kernels, terminals and processes, browser (tests/e2e),
# JupyterHub (tests/hub, on a throwaway PostgreSQL: scripts/pg.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export PATH="$PWD/.venv/bin:$PATH"
export JUPYTER_TOS_GUARD_CHP="$PWD/.ci/node/node_modules/.bin/configurable-http-proxy"
export JUPYTER_TOS_GUARD_REQUIRE_HUB=1  # the hub tests fail, never skip, when something is missing
# the hub service's store and migrations run on SQLite and on a real PostgreSQL, its service tests on
# PostgreSQL too, each in its own database (the store tests empty theirs while a service may still run)
JUPYTER_TOS_GUARD_HUB_TEST_DB_URL=$(bash scripts/pg.sh start tos_store)
JUPYTER_TOS_GUARD_HUB_SERVICE_DB_URL=$(bash scripts/pg.sh start tos_service)
export JUPYTER_TOS_GUARD_HUB_TEST_DB_URL JUPYTER_TOS_GUARD_HUB_SERVICE_DB_URL
trap 'bash scripts/pg.sh stop' EXIT
step() { printf '\ntos-guard test: %s\n' "$*"; }
step "ruff check";         ruff check .
step "ruff format";        ruff format --check .
step "mypy";               mypy jupyter_tos_guard
step "TypeScript";         (cd labextension && jlpm typecheck && jlpm lint:check)
step "the rules' examples"; jupyter tos-guard test
step "jest";               (cd labextension && jlpm test --silent)
step "the built wheel";    bash scripts/check-wheel.sh
step "pytest";             python -m pytest -p no:cacheprovider "$@"
