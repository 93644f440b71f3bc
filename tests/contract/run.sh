#!/usr/bin/env bash
# Contract test: schemathesis drives a live `cfsign dev` from openapi.yaml
# with the token dev mode prints, and fails on any 5xx, any status, header,
# content type or body the document does not describe, any accepted invalid
# input. Everything it installs lives in target/contract/.
#
#   bash tests/contract/run.sh            # ~1-2 min once cfsign is built
#   CONTRACT_MAX_EXAMPLES=200 bash tests/contract/run.sh
#
# Checks: all of schemathesis's, except the ones switched off in
# tests/contract/schemathesis.toml (each with its reason), plus
# tests/contract/hooks.py (schema-valid data refused only for named reasons).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

version=4.32.5
examples="${CONTRACT_MAX_EXAMPLES:-100}"
seed="${CONTRACT_SEED:-20261129}"
out=target/contract
venv="$out/venv"

if [ ! -x "$venv/bin/st" ] || ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
    mkdir -p "$out"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$version"
fi

cargo build --locked --quiet --bin cfsign

log="$out/cfsign.log"
banner="$out/banner.txt"
rm -f "$banner" "$log"
target/debug/cfsign dev --listen 127.0.0.1:0 --log-format json >"$banner" 2>"$log" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    grep -q '^=========' "$banner" 2>/dev/null && grep -c '^=========' "$banner" | grep -q 2 && break
    kill -0 "$pid" 2>/dev/null || { echo "cfsign dev exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done
token=$(awk '/^Token for subject/ { getline; print; exit }' "$banner")
base=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$banner" | head -n 1)
if [ -z "$token" ] || [ -z "$base" ]; then
    echo "could not read the token and address from the dev banner:" >&2
    cat "$banner" "$log" >&2
    exit 1
fi
echo "cfsign dev on $base (pid $pid); schemathesis $version, $examples examples per operation, seed $seed"

status=0
SCHEMATHESIS_HOOKS=tests/contract/hooks.py "$venv/bin/st" --config-file tests/contract/schemathesis.toml run openapi.yaml \
    --url "$base" \
    --header "Authorization: Bearer $token" \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 2 \
    --generation-database none \
    --report junit --report-dir "$out/report" \
    --no-color || status=$?

# A 5xx that schemathesis saw is also in the service log: show it.
if grep -q '"level":"ERROR"' "$log"; then
    echo "cfsign logged errors during the run:" >&2
    grep '"level":"ERROR"' "$log" | head -n 20 >&2
    status=1
fi
exit "$status"
