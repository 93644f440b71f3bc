#!/usr/bin/env bash
# Installs what tests/browser.rs drives, idempotently:
#   /usr/bin/chromium                               Debian's Chromium (apt; only as root, only when missing)
#   target/browser/node_modules/playwright-core     the driver (npm; pinned; never downloads a browser)
# Set CFSIGN_BROWSER_DIR to install playwright-core elsewhere. Needs apt (as
# root) for Chromium and node + npm for the driver; reaches Debian's mirrors
# and the npm registry, nothing else.
set -euo pipefail

PLAYWRIGHT_CORE_VERSION="1.65.1"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${CFSIGN_BROWSER_DIR:-$repo/target/browser}"

# --- Chromium from Debian ------------------------------------------------------
if [ -x /usr/bin/chromium ]; then
    echo "setup: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing chromium (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
    /usr/bin/chromium --version
else
    echo "setup: /usr/bin/chromium missing; install it as root: apt-get install -y chromium" >&2
    exit 1
fi

# --- playwright-core in a private npm folder -----------------------------------
pkg="$dest/node_modules/playwright-core/package.json"
installed=""
if [ -f "$pkg" ]; then
    installed="$(node -p "require('$pkg').version" 2>/dev/null || true)"
fi
if [ "$installed" = "$PLAYWRIGHT_CORE_VERSION" ]; then
    echo "setup: playwright-core $PLAYWRIGHT_CORE_VERSION already in $dest"
else
    echo "setup: installing playwright-core@$PLAYWRIGHT_CORE_VERSION into $dest"
    mkdir -p "$dest"
    [ -f "$dest/package.json" ] || printf '{\n  "name": "cfsign-browser-test",\n  "private": true\n}\n' >"$dest/package.json"
    # playwright-core has no install script and never fetches a browser; the
    # variable makes sure of it should that change.
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dest" --silent --no-audit --no-fund \
        --save-exact "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi

echo "setup: done. tests/browser.rs finds chromium at /usr/bin/chromium (or \$CFSIGN_BROWSER_CHROMIUM)"
echo "       and playwright-core in $dest/node_modules (or \$CFSIGN_BROWSER_NODE_MODULES)."
