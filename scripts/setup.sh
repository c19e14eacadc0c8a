#!/usr/bin/env bash
# Set up this checkout on a fresh machine, inside the checkout: a virtual environment in .venv
# (your own Python is never touched), the JupyterLab extension's Node packages in
# labextension/node_modules, JupyterHub's proxy in .ci/node. Outside the checkout it installs
# only Debian packages, and only those missing: nodejs + npm, python3-venv, and for the tests
# chromium and postgresql (apt-get, as root or through sudo). Re-running installs only what changed.
#   bash scripts/setup.sh try   the package, JupyterLab and Notebook 7 (for scripts/try.sh)
#   bash scripts/setup.sh dev   everything the tests use as well (scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-dev}"
case "$what" in try | dev) ;; *) echo "usage: bash scripts/setup.sh [try|dev]" >&2; exit 2 ;; esac
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf 'tos-guard setup: %s\n' "$*"; }
fail() {
  printf 'tos-guard setup: FAILED: %s\n' "$1" >&2
  [ -n "${2:-}" ] && printf 'tos-guard setup: what to do: %s\n' "$2" >&2
  exit 1
}
sudo_=""
[ "$(id -u)" -ne 0 ] && sudo_="sudo"
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null 2>&1 || fail "this needs $* and there is no apt-get here" "install $* yourself, then run this again"
  if [ -n "$sudo_" ] && ! command -v sudo >/dev/null 2>&1; then
    fail "installing $* needs root" "run this as root, or install $* and run it again"
  fi
  say "installing Debian packages: $*"
  if [ -z "$apt_updated" ]; then
    $sudo_ apt-get update -qq >/dev/null || fail "apt-get update failed" "check the machine's package sources"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || fail "apt-get install $* failed" "install $* by hand, then run this again"
}

# 1. A Python >= 3.11 to make the virtual environment from (Debian's own python3 will do).
python=""
for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3 /usr/bin/python3; do
  [ -n "$candidate" ] || continue
  path=$(command -v "$candidate" 2>/dev/null) || continue
  if "$path" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    python=$path
    break
  fi
done
[ -n "$python" ] || fail "no Python 3.11 or newer found" "install python3 (3.11+), or set PYTHON=/path/to/python3"

# 2. Node.js and npm: building the JupyterLab extension needs them (your operators' machines do not).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

# 3. The virtual environment.
if [ ! -x .venv/bin/python ]; then
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    apt_install python3-venv
  fi
  say "creating .venv with $python ($("$python" --version 2>&1))"
  "$python" -m venv .venv || fail "could not create .venv with $python" "install python3-venv, delete .venv, run this again"
fi
py="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

# 4. The package (editable) and what runs it; skipped when nothing it is built from has changed.
stamp=".venv/.tos-guard-$what"
sources=$(
  { cat pyproject.toml labextension/package.json labextension/yarn.lock
    find labextension/src labextension/style -type f -print0 | sort -z | xargs -0 cat; } | sha256sum | cut -d' ' -f1
)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ] || [ ! -d jupyter_tos_guard/labextension ]; then
  say "installing jupyter-tos-guard ($what) into .venv; this builds the JupyterLab extension"
  "$py" -m pip install --quiet --upgrade pip || fail "upgrading pip in .venv failed" "check that PyPI is reachable"
  if [ "$what" = try ]; then
    "$py" -m pip install --quiet -e . "jupyterlab>=4,<5" "notebook>=7" \
      || fail "pip install into .venv failed (output above)" "fix what it says, then run this again"
  else
    "$py" -m pip install --quiet -e ".[test,dev,hub,bench]" "jupyterlab>=4,<5" "notebook>=7" "playwright>=1.40" \
      || fail "pip install into .venv failed (output above)" "fix what it says, then run this again"
  fi
  echo "$sources" > "$stamp"
else
  say ".venv is up to date ($what)"
fi
[ "$what" = try ] && exit 0

# 5. What only the tests need: Debian's chromium (nothing downloads a browser), the extension's
#    Node packages exactly as in yarn.lock (for jest and the linters), JupyterHub's proxy.
if ! command -v chromium >/dev/null 2>&1; then
  apt_install chromium fonts-dejavu-core
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then  # the hub service's tests run on it too
  apt_install postgresql
fi
say "labextension Node packages (jlpm install --immutable)"
(cd labextension && jlpm install --immutable >/dev/null) || fail "jlpm install failed" "run 'cd labextension && jlpm install' to see why"
if [ ! -x .ci/node/node_modules/.bin/configurable-http-proxy ]; then
  say "JupyterHub's configurable-http-proxy into .ci/node"
  npm install --silent --no-audit --no-fund --prefix .ci/node configurable-http-proxy >/dev/null \
    || fail "npm install configurable-http-proxy failed" "check that the npm registry is reachable"
fi
say "ready"
