#!/usr/bin/env bash
# Installs what tests/client/run.sh uses, pinned, into target/client/ (or
# $CFSIGN_CLIENT_DIR), idempotently:
#   @redocly/cli          lints openapi.yaml
#   openapi-typescript    generates TypeScript types from openapi.yaml
#   typescript            compiles the client in strict mode
#   openapi-fetch         the typed fetch client the test calls cfsign with
#   @types/node           node's types, for the strict compile
# Needs node (20.19+) and npm; reaches the npm registry, nothing else.
set -euo pipefail

packages=(
    "@redocly/cli@2.77.0"
    "openapi-typescript@7.13.0"
    "typescript@5.9.3"
    "openapi-fetch@0.17.0"
    "@types/node@20.19.43"
)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="${CFSIGN_CLIENT_DIR:-$repo/target/client}"
mkdir -p "$dest"
[ -f "$dest/package.json" ] || printf '{\n  "name": "cfsign-client-test",\n  "private": true\n}\n' >"$dest/package.json"

missing=()
for spec in "${packages[@]}"; do
    name="${spec%@*}"
    want="${spec##*@}"
    pkg="$dest/node_modules/$name/package.json"
    have="$(node -p "require('$pkg').version" 2>/dev/null || true)"
    [ "$have" = "$want" ] || missing+=("$spec")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: ${packages[*]} already in $dest"
else
    echo "setup: installing ${missing[*]} into $dest"
    npm install --prefix "$dest" --silent --no-audit --no-fund --save-exact "${missing[@]}"
fi
