#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (Python 3.11+, Node 20 and npm present;
# root or sudo for apt). Idempotent: re-running only installs what is missing.
#   bash scripts/setup.sh try   the package, JupyterLab and Notebook 7 (for scripts/try.sh)
#   bash scripts/setup.sh dev   everything the tests use, browser and JupyterHub proxy included
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-dev}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

if [ "$what" = "try" ]; then
  # building the wheel also builds the JupyterLab extension (Node is needed here, not at your site)
  python3 -m pip install --quiet -e . "jupyterlab>=4,<5" "notebook>=7"
  exit 0
fi
python3 -m pip install --quiet -e ".[test,dev,hub,bench]" "jupyterlab>=4,<5" "notebook>=7"
# the labextension's jest deps, Debian's chromium and Playwright's driver (never a browser download)
bash labextension/ci-setup.sh
# JupyterHub's proxy for the hub tests, into a local prefix (nothing global)
if [ ! -x .ci/node/node_modules/.bin/configurable-http-proxy ]; then
  npm install --silent --no-audit --no-fund --prefix .ci/node configurable-http-proxy >/dev/null
fi
