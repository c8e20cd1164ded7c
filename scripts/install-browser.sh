#!/usr/bin/env bash
# Installs what the browser tests need, only what is missing, and prints the directory that
# holds node_modules/puppeteer-core (for NODE_PATH):
#   - Debian's chromium (headless; the tests drive it through the DevTools protocol);
#   - puppeteer-core from the npm registry, installed with --ignore-scripts (its install
#     script would download a browser; the system one is used instead) into a cache
#     directory outside the source tree ($CNNC_NODE_DIR, default ~/.cache/cnnc/node).
# Neither is needed by cnnc or the programs it makes: only by tests. Safe to run again.
set -euo pipefail

puppeteer_version=24.43.1
node_dir=${CNNC_NODE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cnnc/node}

say() { printf 'install-browser: %s\n' "$*" >&2; }

if ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium (for the browser tests only)"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    chromium fonts-dejavu-core >&2
fi

installed=$(node -e "try{console.log(require('$node_dir/node_modules/puppeteer-core/package.json').version)}catch(e){}" 2>/dev/null || true)
if [ "$installed" != "$puppeteer_version" ]; then
  say "installing puppeteer-core@$puppeteer_version into $node_dir (npm, --ignore-scripts)"
  mkdir -p "$node_dir"
  [ -f "$node_dir/package.json" ] || echo '{"private": true}' > "$node_dir/package.json"
  npm install --prefix "$node_dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
    "puppeteer-core@$puppeteer_version" >&2
fi
echo "$node_dir"
