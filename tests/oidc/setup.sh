#!/usr/bin/env bash
# Installs the real OpenID provider that tests/it/oidc.rs runs on loopback,
# oidc-provider (the certified Node.js implementation), pinned, into
# target/oidc/node/ (or $CFSIGN_OIDC_DIR). Idempotent: a second run with the
# pinned version present does nothing. Needs node and npm; reaches the npm registry.
set -euo pipefail

OIDC_PROVIDER_VERSION="9.13.3"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${CFSIGN_OIDC_DIR:-$repo/target/oidc}"
node_dir="$dest/node"
pkg="$node_dir/node_modules/oidc-provider/package.json"
installed=""
if [ -f "$pkg" ]; then
    installed="$(node -p "require('$pkg').version" 2>/dev/null || true)"
fi
if [ "$installed" = "$OIDC_PROVIDER_VERSION" ]; then
    echo "setup: oidc-provider $OIDC_PROVIDER_VERSION already in $node_dir"
else
    echo "setup: installing oidc-provider@$OIDC_PROVIDER_VERSION into $node_dir"
    mkdir -p "$node_dir"
    [ -f "$node_dir/package.json" ] || printf '{\n  "name": "cfsign-oidc",\n  "private": true\n}\n' >"$node_dir/package.json"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund --save-exact "oidc-provider@$OIDC_PROVIDER_VERSION")
fi
echo "setup: done. tests/it/oidc.rs finds it here, or in \$CFSIGN_OIDC_NODE_MODULES."
