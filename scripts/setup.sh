#!/usr/bin/env bash
# Install everything the project needs on a fresh machine (Python 3.11+, Node 20 and npm present).
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-dev}"   # "try": the package only; "dev": the package plus everything the tests use

python3 -m pip install --quiet --upgrade pip
if [ "$what" = "try" ]; then
  python3 -m pip install --quiet -e . jupyterlab notebook
  exit 0
fi
python3 -m pip install --quiet -e ".[test,dev]" jupyterlab notebook
