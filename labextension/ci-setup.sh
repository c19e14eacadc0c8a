#!/usr/bin/env bash
# What the labextension's tests need on a fresh Debian machine, beyond the Python package itself:
#   - Debian's chromium (the e2e tests drive /usr/bin/chromium; nothing downloads a browser),
#   - Playwright's Python driver (never `playwright install`) and Notebook 7 (which brings JupyterLab),
#   - the Node packages of labextension/, exactly as in yarn.lock (for jest; the pip build hook
#     runs the same install before it builds the extension).
# Idempotent: re-running installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

sudo_=""
if [ "$(id -u)" -ne 0 ]; then sudo_="sudo"; fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ "${#missing[@]}" -gt 0 ]; then
  $sudo_ apt-get update -qq
  $sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" fonts-dejavu-core >/dev/null
fi

python3 -m pip install --quiet "playwright>=1.40" "notebook>=7" "jupyterlab>=4,<5" "ipykernel>=6.29"

# jlpm is JupyterLab's pinned yarn; --immutable: fail rather than change the lockfile
jlpm install --immutable
