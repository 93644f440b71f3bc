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

# shellcheck source=tests/dev-session.sh
source tests/dev-session.sh "$out"
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
