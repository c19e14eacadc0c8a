#!/usr/bin/env bash
# Build the wheel an operator installs, install it into a throwaway virtual environment, and check
# that jupyter_server and JupyterLab both see the extension enabled and OK.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf 'tos-guard wheel: %s\n' "$*"; }
say "building the wheel"
.venv/bin/python -m pip wheel --quiet --no-deps -w "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/jupyter_tos_guard-*.whl)
for member in jupyter_tos_guard/policy/default/mining.yaml \
  'share/jupyter/labextensions/jupyter-tos-guard/package.json' \
  'etc/jupyter/jupyter_server_config.d/jupyter_tos_guard.json' 'licenses/LICENSE'; do
  .venv/bin/python - "$wheel" "$member" <<'PY' || { say "the wheel lacks $member"; exit 1; }
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
sys.exit(0 if any(n.endswith(sys.argv[2]) for n in names) else 1)
PY
done
say "installing $(basename "$wheel") into a clean environment"
.venv/bin/python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$wheel" "jupyterlab>=4,<5" >/dev/null
server=$("$work/venv/bin/jupyter" server extension list 2>&1)
lab=$("$work/venv/bin/jupyter" labextension list 2>&1)
echo "$server" | grep -E "jupyter_tos_guard.*enabled" >/dev/null || { echo "$server"; say "server extension not enabled"; exit 1; }
echo "$server" | grep -A2 "jupyter_tos_guard" | grep -E "OK" >/dev/null || { echo "$server"; say "server extension not OK"; exit 1; }
echo "$lab" | grep -E "jupyter-tos-guard v[0-9.]+ .*enabled.*OK" >/dev/null || { echo "$lab"; say "labextension not enabled and OK"; exit 1; }
say "server extension and labextension enabled and OK"
