#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
jupyter tos-guard test
python3 -m pytest -p no:cacheprovider "$@"
