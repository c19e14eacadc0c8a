#!/usr/bin/env bash
# Start JupyterLab with the guard, the default policy (plus a small demo overlay) and the demo notebook.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh try
port="${PORT:-8888}"
root=$(mktemp -d)
cp demo/terms-of-use-demo.ipynb "$root/"
echo "Open http://127.0.0.1:$port/lab/tree/terms-of-use-demo.ipynb (token: ${TOKEN:-tos-demo})"
export JUPYTER_TOS_GUARD_POLICY="$PWD/demo/demo-policy.yaml"
exec jupyter-lab --no-browser --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0 \
  --IdentityProvider.token="${TOKEN:-tos-demo}" --ServerApp.root_dir="$root" \
  --TosGuard.audit_log="$root/tos-guard-audit.jsonl" \
  $( [ "$(id -u)" = 0 ] && echo --allow-root )
