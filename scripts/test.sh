#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, then runs every test —
# the rules' own examples, Python tests (engine, real server, browser, JupyterHub) and jest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
export JUPYTER_TOS_GUARD_CHP="$PWD/.ci/node/node_modules/.bin/configurable-http-proxy"
export JUPYTER_TOS_GUARD_REQUIRE_HUB=1  # the hub tests fail, never skip, when something is missing
jupyter tos-guard test
(cd labextension && jlpm test)
python3 -m pytest -p no:cacheprovider "$@"
