#!/usr/bin/env bash
# Installs the reference CloudFront signers that tests/differential.rs compares
# cfsign against, into target/differential/ (or $CFSIGN_DIFF_DIR):
#   venv/bin/aws                                   AWS CLI v1 (`aws cloudfront sign`)
#   node/node_modules/@aws-sdk/cloudfront-signer   the JS SDK v3 signer
# Idempotent: a second run with the pinned versions already present does
# nothing. Needs python3 (with venv) and npm; reaches PyPI and the npm registry.
set -euo pipefail

AWSCLI_VERSION="1.46.3"
JS_SIGNER_VERSION="3.1166.0"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${CFSIGN_DIFF_DIR:-$repo/target/differential}"
mkdir -p "$dest"

# --- AWS CLI v1 in a private virtualenv -------------------------------------
venv="$dest/venv"
if "$venv/bin/aws" --version 2>&1 | grep -q "^aws-cli/$AWSCLI_VERSION "; then
    echo "setup: aws-cli $AWSCLI_VERSION already in $venv"
else
    echo "setup: installing awscli==$AWSCLI_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION"
    "$venv/bin/aws" --version
fi

# --- @aws-sdk/cloudfront-signer in a local npm folder -----------------------
node_dir="$dest/node"
pkg="$node_dir/node_modules/@aws-sdk/cloudfront-signer/package.json"
installed=""
if [ -f "$pkg" ]; then
    installed="$(node -p "require('$pkg').version" 2>/dev/null || true)"
fi
if [ "$installed" = "$JS_SIGNER_VERSION" ]; then
    echo "setup: @aws-sdk/cloudfront-signer $JS_SIGNER_VERSION already in $node_dir"
else
    echo "setup: installing @aws-sdk/cloudfront-signer@$JS_SIGNER_VERSION into $node_dir"
    mkdir -p "$node_dir"
    [ -f "$node_dir/package.json" ] || printf '{\n  "name": "cfsign-differential",\n  "private": true\n}\n' >"$node_dir/package.json"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund --save-exact "@aws-sdk/cloudfront-signer@$JS_SIGNER_VERSION")
fi

echo "setup: done. The test finds the tools here; or set CFSIGN_DIFF_AWS=/path/to/aws and"
echo "       CFSIGN_DIFF_NODE_MODULES=/path/to/node_modules (and CFSIGN_DIFF_NODE for node)."
