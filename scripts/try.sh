#!/usr/bin/env bash
# Try it: JupyterLab with the guard, the default policy (plus a small demo overlay) and the demo
# notebook, from the checkout's own .venv (set up on first run; your Python is not touched).
# Stop it with Ctrl-C. PORT and TOKEN may be set; the default port is 8888.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh try
port="${PORT:-8888}"
token="${TOKEN:-tos-demo}"
root=$(mktemp -d)
cp demo/terms-of-use-demo.ipynb "$root/"
export JUPYTER_TOS_GUARD_POLICY="$PWD/demo/demo-policy.yaml"
echo "tos-guard try: open http://127.0.0.1:$port/lab/tree/terms-of-use-demo.ipynb?token=$token"
echo "tos-guard try: audit log in $root/tos-guard-audit.jsonl"
root_flag=()
[ "$(id -u)" = 0 ] && root_flag=(--allow-root)
exec .venv/bin/jupyter-lab --no-browser --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0 \
  --IdentityProvider.token="$token" --ServerApp.root_dir="$root" \
  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
  --TosGuard.audit_log="$root/tos-guard-audit.jsonl" "${root_flag[@]}"
