#!/usr/bin/env bash
# The contract as a frontend developer meets it: redocly lints openapi.yaml
# (recommended-strict: every warning is an error; named exceptions in
# tests/client/.redocly.lint-ignore.yaml), openapi-typescript generates the
# types, `tsc --strict` compiles tests/client/client.mts against them, and the
# compiled client calls every endpoint of a live `cfsign dev`.
#
#   bash tests/client/run.sh          # ~30 s once cfsign is built
#
# Installs its pinned npm packages itself (tests/client/setup.sh) into
# target/client/ (or $CFSIGN_CLIENT_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bash tests/client/setup.sh
dir="${CFSIGN_CLIENT_DIR:-$PWD/target/client}"
bin="$dir/node_modules/.bin"
work="$dir/work"
rm -rf "$work"
mkdir -p "$work"

echo "--- redocly lint"
# (Its boxed notice about Node.js versions is left out.)
status=0
lint=$("$bin/redocly" lint --config tests/client/redocly.yaml openapi.yaml 2>&1) || status=$?
printf '%s\n' "$lint" | grep -v -e '^ *║' -e '^ *╔' -e '^ *╚'
[ "$status" = 0 ] || exit "$status"

echo "--- openapi-typescript + tsc --strict"
"$bin/openapi-typescript" openapi.yaml -o "$work/api.d.ts" --silent
cp tests/client/client.mts tests/client/tsconfig.json "$work/"
ln -sfn "$dir/node_modules" "$work/node_modules"
"$bin/tsc" -p "$work/tsconfig.json" --outDir "$work/out"

echo "--- the typed client against cfsign dev"
cargo build --locked --quiet --bin cfsign
# shellcheck source=tests/dev-session.sh
source tests/dev-session.sh "$work"
node "$work/out/client.mjs" "$base" "$token"
