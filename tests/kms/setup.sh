#!/usr/bin/env bash
# Installs the local AWS KMS that tests/it/kms.rs runs on loopback: moto's
# server (PyPI `moto[server]`, pinned; it implements CreateKey, GetPublicKey
# and Sign for RSA_2048 and ECC_NIST_P256 keys), with boto3, into a private
# virtualenv, target/kms-venv/ (or $CFSIGN_KMS_VENV). Idempotent: a second run
# with the pinned version present does nothing. Needs python3 (with venv);
# reaches PyPI.
set -euo pipefail

MOTO_VERSION="5.2.5"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CFSIGN_KMS_VENV:-$repo/target/kms-venv}"
installed="$("$venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || true)"
if [ "$installed" = "$MOTO_VERSION" ] && [ -x "$venv/bin/moto_server" ]; then
    echo "setup: moto $MOTO_VERSION already in $venv"
else
    echo "setup: installing moto[server]==$MOTO_VERSION into $venv"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
    "$venv/bin/python" -c 'import moto; print("setup: moto", moto.__version__)'
fi
echo "setup: done. tests/it/kms/ finds moto_server here, or in \$CFSIGN_KMS_VENV."
